"""A small Power BI workflow through `connectorkit invoke`, against the local emulator.

Starts `connectorkit emulator --port 0 --time-scale 1`, then runs six actions, each in its own
`connectorkit invoke` process speaking the contract's JSON on stdin and stdout:

    list_groups -> create_dataset -> create_rows -> list_tables -> list_datasets -> raw_request

The connection is a service principal (client credentials) of the emulator's default client.
The token the first response returns is passed into the following requests, as a platform
would store and reuse it. Exits 0 when every step succeeds; the emulator is stopped in any case.

    python scripts/demo.py
"""

from __future__ import annotations

import json
import random
import select
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 30
STEP_TIMEOUT_S = 60
SECRET_KEYS = frozenset({"client_secret", "access_token", "refresh_token"})
RULE = "=" * 78
WIDTH = 120

Json = dict[str, Any]


def command() -> list[str]:
    """How to run connectorkit: the console script if installed, else `python -m connectorkit`."""
    beside_python = Path(sys.executable).with_name("connectorkit")
    if beside_python.exists():
        return [str(beside_python)]
    on_path = shutil.which("connectorkit")
    return [on_path] if on_path else [sys.executable, "-m", "connectorkit"]


def masked(value: Any) -> Any:
    """The value with every secret replaced by ***, for display."""
    if isinstance(value, dict):
        return {k: "***" if k in SECRET_KEYS else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def pretty(value: Any, indent: int = 4) -> str:
    """JSON with anything that fits on one line kept on one line (a row, a column, a token)."""
    flat = json.dumps(value, ensure_ascii=False)
    if indent + len(flat) <= WIDTH or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + pretty(item, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = [
        f"{pad}{json.dumps(key, ensure_ascii=False)}: {pretty(item, indent + 2)}"
        for key, item in value.items()
    ]
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def show(label: str, document: Json) -> None:
    """Print a labelled, pretty, masked JSON document."""
    print(f"{label}:")
    print("    " + pretty(masked(document)))


class Emulator:
    """`connectorkit emulator` in a subprocess, its log kept in a temporary file."""

    def __init__(self, cmd: list[str]) -> None:
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            "w+", prefix="connectorkit-emulator-", suffix=".log", delete=False
        )
        args = [*cmd, "emulator", "--port", "0", "--time-scale", "1"]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        stdout = self.process.stdout
        ready = stdout is not None and select.select([stdout], [], [], READY_TIMEOUT_S)[0]
        line = stdout.readline() if stdout is not None and ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"the emulator did not start; see {self.log.name}")
        self.urls: dict[str, str] = json.loads(line)

    def state(self) -> Json:
        """The emulator's own view of what it holds (its control API)."""
        with urllib.request.urlopen(f"{self.urls['url']}/_emulator/state", timeout=10) as reply:  # noqa: S310 - loopback URL we were given
            return json.loads(reply.read())  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Terminate the process (SIGTERM), waiting for it to exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


class Workflow:
    """Runs actions through `connectorkit invoke`, keeping the token between calls."""

    def __init__(self, cmd: list[str], urls: dict[str, str]) -> None:
        self.cmd = cmd
        self.values = {
            "tenant_id": urls["tenant"],
            "client_id": "connectorkit-demo",
            "client_secret": "demo-secret",
            "token_url": urls["token_url"],
            "base_url": urls["base_url"],
        }
        self.token: Json | None = None
        self.step = 0

    def run(self, title: str, action: str, inputs: Json) -> Json:
        """Invoke one action, print request and response; returns `result` or raises."""
        self.step += 1
        connection: Json = {"key": "client_credentials", "values": self.values}
        if self.token is not None:
            connection["token"] = self.token
        request = {
            "id": f"step-{self.step}",
            "action": action,
            "inputs": inputs,
            "connection": connection,
        }
        print(RULE)
        print(f"Step {self.step}: {title}  [{action}]")
        print(RULE)
        show("request (stdin)", request)
        completed = subprocess.run(
            [*self.cmd, "invoke"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        try:
            response: Json = json.loads(completed.stdout)
        except ValueError:
            print(f"invoke exited {completed.returncode} without a JSON response:")
            print(completed.stderr.strip() or completed.stdout.strip())
            raise StepFailedError(action) from None
        show(f"response (stdout, exit {completed.returncode})", response)
        print()
        if "token" in response:
            self.token = response["token"]  # a platform stores the new token and reuses it
        if completed.returncode != 0 or not response.get("ok"):
            if completed.stderr.strip():
                print(f"invoke stderr:\n{completed.stderr.strip()}")
            raise StepFailedError(action)
        return dict(response["result"])


class StepFailedError(Exception):
    """An action answered ok: false (or no JSON at all)."""


def sales_rows(count: int) -> list[Json]:
    """A few dozen reproducible sales."""
    rng = random.Random(2024)  # noqa: S311 - demo data
    products = ["Road Bike", "Helmet", "Gloves", "Bottle", "Lights", "Lock"]
    regions = ["North", "South", "East", "West"]
    return [
        {
            "Product": rng.choice(products),
            "Region": rng.choice(regions),
            "Qty": rng.randint(1, 12),
            "Price": round(rng.uniform(5, 900), 2),
            "SoldAt": f"2024-05-{rng.randint(1, 31):02d}T{rng.randint(8, 19):02d}:00:00Z",
        }
        for _ in range(count)
    ]


def workflow(flow: Workflow) -> None:
    """The six steps; raises StepFailedError at the first failure."""
    groups = flow.run("List the workspaces the service principal can use", "list_groups", {})
    workspace = groups["value"][0]
    group_id = workspace["id"]
    print(f"-> using workspace {workspace['name']!r} ({group_id})\n")

    columns = [
        {"name": "Product", "dataType": "String"},
        {"name": "Region", "dataType": "String"},
        {"name": "Qty", "dataType": "Int64"},
        {"name": "Price", "dataType": "Double"},
        {"name": "SoldAt", "dataType": "DateTime"},
    ]
    dataset = flow.run(
        "Create a push dataset with a Sales table",
        "create_dataset",
        {
            "dataset_name": "connectorkit demo",
            "table_name": "Sales",
            "columns": columns,
            "group_id": group_id,
        },
    )
    dataset_id = dataset["id"]
    print(f"-> dataset {dataset_id}\n")

    rows = sales_rows(36)
    pushed = flow.run(
        "Push 36 rows into Sales",
        "create_rows",
        {
            "dataset_id": dataset_id,
            "table_name": "Sales",
            "rows": rows,
            "group_id": group_id,
        },
    )
    print(f"-> {pushed.get('rows')} rows in {pushed.get('batches')} batch(es)\n")

    flow.run(
        "List the dataset's tables", "list_tables", {"dataset_id": dataset_id, "group_id": group_id}
    )
    flow.run("List the workspace's datasets", "list_datasets", {"group_id": group_id})
    flow.run(
        "The same list through raw_request",
        "raw_request",
        {"url": f"/groups/{group_id}/datasets", "method": "GET"},
    )


def main() -> int:
    """Run the demo; 0 when every step succeeded."""
    cmd = command()
    print("Starting the emulator:", *cmd, "emulator --port 0 --time-scale 1")
    try:
        emulator = Emulator(cmd)
    except (OSError, RuntimeError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    show("emulator endpoints (its one line of stdout)", emulator.urls)
    print()
    try:
        workflow(Workflow(cmd, emulator.urls))
        state = emulator.state()
    except StepFailedError as exc:
        print(
            f"demo: step {exc} failed; the emulator's log is {emulator.log.name}", file=sys.stderr
        )
        return 1
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
        print(f"demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        emulator.stop()
    stored = [(d["name"], t["name"], t["rows"]) for d in state["datasets"] for t in d["tables"]]
    print(RULE)
    print("Done: every step succeeded. The emulator held, when stopped:")
    for dataset, table, count in stored:
        print(f"    {dataset} / {table}: {count} rows")
    Path(emulator.log.name).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
