"""End to end: the installed ``connectorkit`` command against the emulator over loopback HTTP.

Every test runs the real command (``connectorkit invoke``, ``serve``, ``auth login``) in a
subprocess, feeds it JSON on stdin and reads JSON from stdout, while the emulator, a local Power
BI service with its identity endpoints, runs in a thread of the test process. The assertions
look at both sides: the response envelope and exit code the platform gets, and what the service
saw and holds (its request log, its rows, its tokens).

After each test, every subprocess run of it is scanned: no client secret, access token,
refresh token or authorization code in stderr, nor in stdout outside a response's ``token``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conftest import assert_envelope

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

from powerbi_emulator import SEED_IDS, PushLimits, running

if TYPE_CHECKING:
    from collections.abc import Iterator

    from powerbi_emulator import EmulatorHandle

COMMAND = Path(sys.executable).parent / "connectorkit"
ENV = {
    **{k: v for k, v in os.environ.items() if k != "CONNECTORKIT_PACK"},
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
RUN_TIMEOUT_S = 60
# What the emulator's codes and tokens start with (access tokens are JWTs): none may ever be
# shown outside `token`.
TOKEN_PREFIXES = ("eyJ0eXAiOiJKV1Qi", "emu-rt.", "emu-code.")
# Key material: a PEM block's markers (a private key's lines are needles of their own).
PEM_MARKERS = ("-----BEGIN", "PRIVATE KEY")
WRONG_SECRET = "wrong-secret-e2e-0001"

SALES = SEED_IDS["sales_analytics"]
OPERATIONS = SEED_IDS["operations"]
USER_SCOPES = "https://analysis.windows.net/powerbi/api/Dataset.ReadWrite.All offline_access"
COLUMNS = [{"name": "Product", "dataType": "String"}, {"name": "Qty", "dataType": "Int64"}]


def counts(result: dict[str, Any]) -> dict[str, Any]:
    """A push's row and batch counts (its result also names its job and what it committed)."""
    assert result["committed"] == result["rows"]
    assert result["job_id"]
    return {"rows": result["rows"], "batches": result["batches"]}


def make_rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"Product": f"P{i}", "Qty": i} for i in range(start, start + count)]


# -- running the command ---------------------------------------------------------------------


@dataclass
class Run:
    """One finished subprocess run and what the emulator logged while it ran."""

    args: list[str]
    code: int
    stdout: str
    stderr: str
    elapsed: float
    log: list[dict[str, Any]] = field(default_factory=list)
    token_output: bool = False  # `auth login`: stdout is the token itself
    plain: bool = False  # stdout is text for a person (`check`), not envelopes

    @property
    def responses(self) -> list[dict[str, Any]]:
        if self.plain:
            return []
        return [json.loads(line) for line in self.stdout.splitlines()]

    @property
    def response(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"invoke must write exactly one line:\n{self.stdout}\n{self.stderr}"
        return json.loads(lines[0])

    @property
    def result(self) -> Any:
        response = self.response
        assert response["ok"] is True, (response, self.stderr)
        return response["result"]

    @property
    def error(self) -> dict[str, Any]:
        response = self.response
        assert response["ok"] is False, response
        return response["error"]

    def api(self) -> list[tuple[str, str, int | None]]:
        """(method, path, status) of the REST requests the emulator saw during the run."""
        return [(e["method"], e["path"], e["status"]) for e in self.log if e["kind"] == "api"]

    def grants(self) -> list[tuple[str | None, int | None]]:
        """(grant_type, status) of the token requests the emulator saw during the run."""
        return [
            (e.get("grant_type"), e["status"]) for e in self.log if e["path"].endswith("/token")
        ]


class Cli:
    """Runs the installed command against the attached emulator and keeps every run."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.emulator: EmulatorHandle | None = None
        self.runs: list[Run] = []
        self.secrets: set[str] = {WRONG_SECRET}

    def attach(self, emulator: EmulatorHandle) -> EmulatorHandle:
        self.emulator = emulator
        self.secrets |= {c.client_secret for c in emulator.config.clients if c.client_secret}
        return emulator

    @property
    def emu(self) -> EmulatorHandle:
        assert self.emulator is not None, "no emulator attached"
        return self.emulator

    def _last_seq(self) -> int:
        if self.emulator is None:
            return 0
        entries = self.emulator.requests()
        return int(entries[-1]["seq"]) if entries else 0

    def run(
        self,
        args: list[str],
        stdin: str,
        env: dict[str, str | None] | None = None,
        *,
        plain: bool = False,
    ) -> Run:
        """Run the command; ``env`` adds environment variables (None: removes one).

        ``plain``: its stdout is text for a person, scanned whole.
        """
        since = self._last_seq()
        started = time.monotonic()
        environment = {**ENV, **(env or {})}
        process = subprocess.run(
            [str(COMMAND), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env={k: v for k, v in environment.items() if v is not None},
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        elapsed = time.monotonic() - started
        log = self.emulator.requests(since=since) if self.emulator is not None else []
        code, out, err = process.returncode, process.stdout, process.stderr
        run = Run(args, code, out, err, elapsed, log, plain=plain)
        self.runs.append(run)
        assert "Traceback" not in run.stdout + run.stderr, run.stderr
        for response in run.responses:
            self.remember_token(response.get("token"))
            streamed = "item" in response and "ok" not in response  # a line of a stream
            if args[:1] in (["invoke"], ["serve"]) and not streamed:
                assert_envelope(response)
        return run

    def invoke(
        self,
        action: str,
        inputs: dict[str, Any],
        connection: dict[str, Any] | None,
        *flags: str,
        request_id: str | None = None,
        env: dict[str, str | None] | None = None,
    ) -> Run:
        if action == "create_rows" and isinstance(inputs, dict) and "rows" in inputs:
            # The platform knows the table it pushes to: with its columns given, Create Rows
            # checks the rows without asking the service (tests/test_bulk.py covers asking).
            inputs = {"columns": COLUMNS, **inputs}
        request: dict[str, Any] = {"action": action, "inputs": inputs}
        if request_id is not None:
            request["id"] = request_id
        if connection is not None:
            request["connection"] = connection
            self.remember_token(connection.get("token"))
        return self.run(["invoke", *flags], json.dumps(request), env)

    def serve(self, requests: list[dict[str, Any] | str], *flags: str) -> Run:
        lines = []
        for request in requests:
            if isinstance(request, dict):
                self.remember_token((request.get("connection") or {}).get("token"))
                lines.append(json.dumps(request))
            else:
                lines.append(request)
        return self.run(["serve", *flags], "\n".join(lines) + "\n")

    def remember_token(self, token: Any) -> None:
        if isinstance(token, dict):
            self.secrets |= {
                str(token[k]) for k in ("access_token", "refresh_token") if token.get(k)
            }

    # -- connections -------------------------------------------------------------------------

    def app(self, **values: Any) -> dict[str, Any]:
        """A client_credentials connection to the emulator's default client."""
        emu = self.emu
        return {
            "key": "client_credentials",
            "values": {
                "tenant_id": emu.tenant,
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "token_url": emu.token_url,
                "base_url": emu.base_url,
                **values,
            },
        }

    def user_values(self) -> dict[str, Any]:
        emu = self.emu
        return {
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "authorize_url": emu.authorize_url,
            "token_url": emu.token_url,
            "base_url": emu.base_url,
        }

    def user(self, token: dict[str, Any], **values: Any) -> dict[str, Any]:
        """An oauth2 connection carrying a user's token."""
        return {"key": "oauth2", "values": {**self.user_values(), **values}, "token": token}

    # -- tokens ------------------------------------------------------------------------------

    def sign_in(self) -> dict[str, Any]:
        """A user's token from the emulator: authorize with PKCE, then redeem the code.

        The test plays both the browser and the app; the token has the contract's shape.
        """
        emu = self.emu
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        state = secrets.token_urlsafe(16)
        redirect_uri = "http://127.0.0.1:9/callback"  # never contacted: the test reads Location
        self.secrets.add(verifier)
        with httpx.Client(trust_env=False, timeout=10) as browser:
            authorize = browser.get(
                emu.authorize_url,
                params={
                    "client_id": emu.client_id,
                    "response_type": "code",
                    "redirect_uri": redirect_uri,
                    "scope": USER_SCOPES,
                    "state": state,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            assert authorize.status_code == 302, authorize.text
            query = parse_qs(urlsplit(authorize.headers["location"]).query)
            assert query["state"] == [state]
            code = query["code"][0]
            self.secrets.add(code)
            answer = browser.post(
                emu.token_url,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": verifier,
                    "client_id": emu.client_id,
                    "client_secret": emu.client_secret,
                },
            )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        token = {
            "access_token": body["access_token"],
            "refresh_token": body["refresh_token"],
            "expires_at": int(time.time()) + int(body["expires_in"]),
            "token_type": "Bearer",
        }
        self.remember_token(token)
        return token

    def login(self) -> tuple[Run, dict[str, Any]]:
        """``connectorkit auth login --no-browser``, the test playing the browser."""
        emu = self.emu
        since = self._last_seq()
        started = time.monotonic()
        with subprocess.Popen(
            [str(COMMAND), "auth", "login", "--no-browser", "--values", "-", "--timeout", "30"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.cwd,
            env=ENV,
        ) as process:
            assert process.stdin is not None
            assert process.stderr is not None
            process.stdin.write(json.dumps(self.user_values()))
            process.stdin.close()
            shown: list[str] = []
            for _ in range(20):  # the sign-in URL is the one line without the prefix
                line = process.stderr.readline()
                assert line, f"auth login ended without a sign-in URL: {shown}"
                shown.append(line)
                if line.startswith("http://"):
                    break
            url = shown[-1].strip()
            assert url.startswith(emu.authorize_url + "?"), shown
            with httpx.Client(trust_env=False, timeout=10) as browser:
                location = browser.get(url).headers["location"]  # the emulator approves at once
                self.secrets.add(parse_qs(urlsplit(location).query)["code"][0])
                page = browser.get(location)  # back to the command's loopback receiver
            assert page.status_code == 200, page.text
            assert process.stdout is not None
            stdout, rest = process.stdout.read(), process.stderr.read()
            process.wait(RUN_TIMEOUT_S)
        run = Run(
            ["auth", "login"],
            process.returncode,
            stdout,
            "".join(shown) + rest,
            time.monotonic() - started,
            emu.requests(since=since),
            token_output=True,
        )
        self.runs.append(run)
        assert run.code == 0, run.stderr
        token = json.loads(stdout)
        self.remember_token(token)
        return run, token

    # -- the scan ----------------------------------------------------------------------------

    def leaks(self) -> list[str]:
        """Every place a secret shows where it must not: stderr, or stdout outside `token`."""
        found = []
        pem_lines = {
            line
            for secret in self.secrets
            if "-----BEGIN" in secret
            for line in secret.splitlines()
            if len(line) >= 16 and "-----" not in line
        }
        needles = sorted(self.secrets | pem_lines | set(TOKEN_PREFIXES) | set(PEM_MARKERS))
        for number, run in enumerate(self.runs, start=1):
            if run.plain:
                outside = run.stdout
            elif run.token_output:  # `auth login` prints the token: its values are expected there
                token = json.loads(run.stdout)
                hidden = {"access_token", "refresh_token"}
                outside = json.dumps({k: v for k, v in token.items() if k not in hidden})
            else:
                outside = "\n".join(
                    json.dumps({k: v for k, v in r.items() if k != "token"}) for r in run.responses
                )
            shown = {"stdout": outside, "stderr": run.stderr}
            for stream, text in shown.items():
                found += [
                    f"run {number} ({' '.join(run.args)}): {stream} shows {needle[:12]}…"
                    for needle in needles
                    if needle in text
                ]
        return found


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The command runner; after the test, the secret scan over all its runs."""
    runner = Cli(tmp_path)  # not the repository: the installed command finds its own pack
    yield runner
    assert runner.leaks() == []


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[EmulatorHandle]:
    """One emulator with the default options for a whole test module (see ``emulator``)."""
    with running() as emu:
        yield emu


@pytest.fixture
def emulator(cli: Cli, shared_emulator: EmulatorHandle) -> EmulatorHandle:
    """The module's emulator, back to its seed data with no faults, log or tokens, attached to
    ``cli``: a test sees a fresh service without the cost of starting one."""
    shared_emulator.reset(tokens=True)
    return cli.attach(shared_emulator)


@contextlib.contextmanager
def emulator_with(cli: Cli, **options: Any) -> Iterator[EmulatorHandle]:
    """An emulator with special options (time scale, limits…), attached to ``cli``."""
    with running(**options) as emu:
        yield cli.attach(emu)


def push_dataset(emu: EmulatorHandle, group_id: str | None = SALES) -> str:
    """Create a push dataset with a Sales table directly at the emulator (test setup)."""
    principal = "app" if group_id else "user"
    token = emu.issue_token(principal=principal)["access_token"]
    prefix = f"/groups/{group_id}" if group_id else ""
    with httpx.Client(trust_env=False, timeout=10) as http:
        created = http.post(
            f"{emu.base_url}{prefix}/datasets",
            headers={"Authorization": f"Bearer {token}"},
            json={"name": "Setup", "defaultMode": "Push",
                  "tables": [{"name": "Sales", "columns": COLUMNS}]},
        )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def dataset_state(emu: EmulatorHandle, dataset_id: str) -> dict[str, Any]:
    return next(d for d in emu.state()["datasets"] if d["id"] == dataset_id)


# -- all nine actions, both connections ------------------------------------------------------


@dataclass
class EveryAction:
    """The nine actions through ``invoke``, checking each envelope and the emulator's view."""

    cli: Cli
    connection: dict[str, Any]
    group_id: str | None
    new_token: bool  # whether each call fetches a token (and hands it back)

    @property
    def prefix(self) -> str:
        """The path prefix of the target workspace, below base_url."""
        return f"/groups/{self.group_id}" if self.group_id else ""

    @property
    def api_prefix(self) -> str:
        return f"/v1.0/myorg{self.prefix}"

    def invoke(self, action: str, inputs: dict[str, Any], *flags: str) -> Run:
        scoped = action not in {"list_groups", "raw_request"}  # the others take group_id
        where = {"group_id": self.group_id} if scoped and self.group_id else {}
        run = self.cli.invoke(action, {**inputs, **where}, self.connection, *flags)
        assert run.code == 0, (run.stdout, run.stderr)
        response = run.response
        assert response["ok"] is True
        assert response["action"] == action
        # Every HTTP request the call made reached the service, and none was retried.
        assert response["meta"]["requests"] == len(run.log), run.log
        assert response["meta"]["retries"] == 0
        assert response["meta"]["duration_ms"] >= 0
        # A service principal fetches its own token on every `invoke` (one process per call);
        # a user's still-valid token is used as it is, so no token comes back to store.
        assert ("token" in response) is self.new_token
        assert run.grants() == ([("client_credentials", 200)] if self.new_token else [])
        return run

    def run(self) -> None:
        dataset_id = self.create_and_list()
        self.rows_raw_and_delete(dataset_id)

    def create_and_list(self) -> str:
        emu, seeds = self.cli.emu, ("sales" if self.group_id else "my")
        run = self.invoke("list_groups", {"top": 1, "page_offset": 1})
        assert [g["id"] for g in run.result["value"]] == [OPERATIONS]
        assert run.log[-1]["query"] == {"$top": "1", "$skip": "1"}

        run = self.invoke(
            "create_dataset",
            {"dataset_name": "E2E Sales", "table_name": "Sales", "columns": COLUMNS,
             "default_retention_policy": "basicFIFO"},
        )  # fmt: skip
        dataset_id = str(run.result["id"])
        assert run.result["name"] == "E2E Sales"
        assert run.api() == [("POST", f"{self.api_prefix}/datasets", 201)]
        stored = dataset_state(emu, dataset_id)
        assert stored["workspace_id"] == self.group_id
        assert stored["push"] is True
        assert stored["default_retention_policy"] == "basicFIFO"
        assert stored["tables"] == [{"name": "Sales", "columns": 2, "rows": 0}]

        run = self.invoke("list_datasets", {})
        assert [d["id"] for d in run.result["value"]] == [SEED_IDS[f"{seeds}_dataset"], dataset_id]
        run = self.invoke("list_datasets", {"top": 1, "page_offset": 1})
        assert [d["id"] for d in run.result["value"]] == [dataset_id]

        run = self.invoke("list_tables", {"dataset_id": dataset_id})
        assert run.result["value"] == [{"name": "Sales", "columns": COLUMNS}]
        assert run.api() == [("GET", f"{self.api_prefix}/datasets/{dataset_id}/tables", 200)]

        run = self.invoke("list_reports", {})
        assert [r["id"] for r in run.result["value"]] == [SEED_IDS[f"{seeds}_report"]]
        return dataset_id

    def rows_raw_and_delete(self, dataset_id: str) -> None:
        emu, table_path = self.cli.emu, f"{self.api_prefix}/datasets/{dataset_id}/tables/Sales"
        rows = make_rows(3)
        on_table = {"dataset_id": dataset_id, "table_name": "Sales"}
        run = self.invoke("create_rows", {**on_table, "rows": rows})
        assert run.result["rows"] == 3
        assert run.result["batches"] == 1
        assert run.api() == [("POST", f"{table_path}/rows", 200)]
        assert emu.rows(dataset_id, "Sales") == rows

        wider = [*COLUMNS, {"name": "Region", "dataType": "String"}]
        run = self.invoke("update_table", {**on_table, "columns": wider})
        assert run.api() == [("PUT", table_path, 200)]
        assert dataset_state(emu, dataset_id)["tables"] == [
            {"name": "Sales", "columns": 3, "rows": 3}
        ]
        assert emu.rows(dataset_id, "Sales") == rows  # the rows survive a schema change

        # Raw Request: a read the other actions do not offer, then a write through it.
        run = self.invoke("raw_request", {"url": f"{self.prefix}/datasets/{dataset_id}"})
        assert set(run.result) >= {"status", "headers", "data"}
        assert run.result["status"] == 200
        assert run.result["headers"]["content-type"].startswith("application/json")
        assert run.result["data"]["id"] == dataset_id
        # The default URL (/imports), read as binary: base64 text, marked as such.
        run = self.invoke(
            "raw_request", {"url": f"{self.prefix}/imports", "response_type": "binary"}
        )
        assert run.result["encoding"] == "base64"
        assert json.loads(base64.b64decode(run.result["data"]))["value"] == []
        if not self.prefix:
            assert self.invoke("raw_request", {}).result["data"]["value"] == []
        extra = {"Product": "raw", "Qty": 9, "Region": "EU"}
        run = self.invoke(
            "raw_request",
            {"url": f"{self.prefix}/datasets/{dataset_id}/tables/Sales/rows", "method": "POST",
             "data": {"rows": [extra]}, "debug_request": True},
            "--verbose",
        )  # fmt: skip
        assert run.result["status"] == 200
        assert run.result["data"] is None
        assert emu.rows(dataset_id, "Sales") == [*rows, extra]
        assert "authorization: ***" in run.stderr.lower()  # debug output shown, token masked

        run = self.invoke("delete_rows", on_table)
        assert run.api() == [("DELETE", f"{table_path}/rows", 200)]
        assert emu.rows(dataset_id, "Sales") == []
        assert dataset_state(emu, dataset_id)["tables"] == [
            {"name": "Sales", "columns": 3, "rows": 0}
        ]


def test_every_action_as_a_service_principal_in_a_workspace(cli, emulator):
    EveryAction(cli, cli.app(), SALES, new_token=True).run()
    principals = {(e["principal"], e["client_id"]) for e in emulator.requests(kind="api")}
    assert principals == {("app", emulator.client_id)}


def test_every_action_as_a_signed_in_user_in_my_workspace(cli, emulator):
    login, token = cli.login()
    assert login.grants() == [("authorization_code", 200)]
    assert {"access_token", "refresh_token", "expires_at", "token_type"} <= set(token)
    EveryAction(cli, cli.user(token), None, new_token=False).run()
    assert {e["principal"] for e in emulator.requests(kind="api")} == {"user"}


def test_a_signed_in_user_also_works_in_a_workspace(cli, emulator):
    dataset_id = push_dataset(emulator, OPERATIONS)
    rows = make_rows(2)
    run = cli.invoke(
        "create_rows",
        {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows, "group_id": OPERATIONS},
        cli.user(cli.sign_in()),
    )
    assert (run.code, counts(run.result)) == (0, {"rows": 2, "batches": 1})
    assert run.api() == [
        ("POST", f"/v1.0/myorg/groups/{OPERATIONS}/datasets/{dataset_id}/tables/Sales/rows", 200)
    ]
    assert emulator.rows(dataset_id, "Sales") == rows


@pytest.mark.parametrize(
    ("action", "inputs", "method"),
    [
        ("list_datasets", {}, "GET"),
        ("create_dataset", {"dataset_name": "Nope", "table_name": "T", "columns": COLUMNS}, "POST"),
    ],
)
def test_a_service_principal_on_my_workspace_gets_the_services_403(
    cli, emulator, action, inputs, method
):
    run = cli.invoke(action, inputs, cli.app(), "--verbose", request_id="sp-on-my-workspace")
    assert run.code == 1
    assert run.response["id"] == "sp-on-my-workspace"
    error = run.error
    assert error["type"] == "http_error"
    assert error["status"] == 403
    assert error["code"] == "PowerBINotAuthorizedException"
    assert "My workspace" in error["message"]
    assert run.api() == [(method, "/v1.0/myorg/datasets", 403)]  # sent once, not retried
    assert len(emulator.state()["datasets"]) == 2  # nothing was created


# -- tokens: refresh before the request, refresh after the service refused ---------------------


def test_an_expired_user_token_is_refreshed_first_and_the_old_refresh_token_is_then_spent(cli):
    # Entra keeps a redeemed refresh token valid; single use shows whether the new one is used.
    with emulator_with(cli, single_use_refresh_tokens=True):
        token = cli.sign_in()
        expired = {**token, "expires_at": int(time.time()) - 30}

        run = cli.invoke("list_groups", {}, cli.user(expired), "--verbose")
        assert run.code == 0, run.stderr
        renewed = run.response["token"]
        assert renewed["access_token"] != token["access_token"]
        assert renewed["refresh_token"] != token["refresh_token"]  # the emulator rotates it
        assert renewed["expires_at"] > time.time() + 3000
        assert renewed["token_type"] == "Bearer"
        # The refresh happened before the request: the service never saw the expired token.
        assert [e["kind"] for e in run.log] == ["identity", "api"]
        assert run.grants() == [("refresh_token", 200)]
        assert run.api() == [("GET", "/v1.0/myorg/groups", 200)]
        assert run.response["meta"]["requests"] == 2

        # A platform that did not store the new token: its old refresh token is refused.
        stale = cli.invoke("list_groups", {}, cli.user(expired))
        assert stale.code == 1
        assert stale.error["type"] == "auth_error"
        assert stale.error["oauth_error"] == "invalid_grant"
        assert "token" not in stale.response
        assert stale.grants() == [("refresh_token", 400)]
        assert stale.api() == []

        # The stored new token works as it is.
        again = cli.invoke("list_groups", {}, cli.user(renewed))
        assert again.code == 0
        assert "token" not in again.response
        assert again.grants() == []


def test_a_token_that_expires_on_the_emulated_clock_is_renewed_before_use(cli):
    # 600 emulated seconds of token life pass in one real second.
    with emulator_with(cli, time_scale=600, token_lifetime=600) as emu:
        token = cli.sign_in()
        assert token["expires_at"] - time.time() <= 2
        while time.time() <= token["expires_at"]:  # the token's second passes
            time.sleep(0.02)
        run = cli.invoke("list_groups", {}, cli.user(token, token_leeway=0))
        assert run.code == 0, run.stderr
        assert run.grants() == [("refresh_token", 200)]
        assert run.api() == [("GET", "/v1.0/myorg/groups", 200)]
        assert run.response["token"]["refresh_token"] != token["refresh_token"]
        assert emu.state()["tokens"]["access_tokens"] == 2  # signed in, then renewed


@pytest.mark.parametrize("refusal", ["expired by the service", "unknown to the service"])
def test_a_token_the_service_refuses_is_renewed_once_and_the_request_retried(
    cli, emulator, refusal
):
    token = cli.sign_in()
    if refusal == "expired by the service":
        assert emulator.expire_tokens(token["access_token"]) == 1
        first = 403  # Power BI's TokenExpired
    else:
        token = {**token, "access_token": "emu-at.not-issued-by-this-service"}
        first = 401
    dataset_id = push_dataset(emulator, None)
    rows = make_rows(4)

    run = cli.invoke(
        "create_rows",
        {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows, "debug_request": True},
        cli.user(token),
        "--verbose",
    )
    assert run.code == 0, run.stderr
    path = f"/v1.0/myorg/datasets/{dataset_id}/tables/Sales/rows"
    assert [(e["kind"], e["status"]) for e in run.log] == [
        ("api", first),
        ("identity", 200),
        ("api", 200),
    ]
    assert run.api() == [("POST", path, first), ("POST", path, 200)]
    assert run.grants() == [("refresh_token", 200)]
    assert run.response["meta"]["requests"] == 3
    assert run.response["token"]["refresh_token"] != token["refresh_token"]
    assert emulator.rows(dataset_id, "Sales") == rows  # stored once


def test_a_service_principal_token_the_service_calls_expired_is_fetched_again(cli, emulator):
    emulator.set_fault(status=403, code="TokenExpired", path=r"/groups$", count=1)
    run = cli.invoke("list_groups", {}, cli.app(), "--verbose")
    assert run.code == 0, run.stderr
    assert [(e["kind"], e["status"]) for e in run.log] == [
        ("identity", 200),
        ("api", 403),
        ("identity", 200),
        ("api", 200),
    ]
    assert run.grants() == [("client_credentials", 200)] * 2
    assert [g["id"] for g in run.result["value"]] == [SALES, OPERATIONS]


def test_a_refusal_that_persists_after_the_renewal_is_an_auth_error(cli, emulator):
    token = cli.sign_in()
    emulator.set_fault(status=401, path=r"/v1\.0/myorg/groups$", count=5, code="Unauthorized")
    run = cli.invoke("list_groups", {"max_retry_count": 3}, cli.user(token))
    assert run.code == 1
    assert run.error["type"] == "auth_error"
    assert run.error["status"] == 401
    # One renewal, one retry, then it stops (and the retry count does not apply to auth).
    assert run.api() == [("GET", "/v1.0/myorg/groups", 401)] * 2
    assert run.grants() == [("refresh_token", 200)]
    # The refresh token rotated before the failure: the platform must store the new one.
    assert run.response["token"]["refresh_token"] != token["refresh_token"]


# -- throttling --------------------------------------------------------------------------------


def test_a_429_is_waited_out_and_the_rows_are_stored_once(cli, emulator):
    dataset_id = push_dataset(emulator)
    emulator.set_fault(status=429, retry_after=1, method="POST", path=r"/rows$", count=1)
    rows = make_rows(5)
    run = cli.invoke(
        "create_rows",
        {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows, "group_id": SALES,
         "max_retry_count": 2},
        cli.app(),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert counts(run.result) == {"rows": 5, "batches": 1}
    assert run.response["meta"]["retries"] == 1
    assert run.response["meta"]["requests"] == 3  # token, 429, 200
    assert [s for _, _, s in run.api()] == [429, 200]
    assert run.response["meta"]["duration_ms"] >= 1000  # Retry-After: 1 was honoured
    assert emulator.rows(dataset_id, "Sales") == rows


def test_a_429_without_retries_is_rate_limited_with_retry_after(cli, emulator):
    dataset_id = push_dataset(emulator)
    emulator.set_fault(status=429, retry_after=7, method="POST", path=r"/rows$")
    run = cli.invoke(
        "create_rows",
        {"dataset_id": dataset_id, "table_name": "Sales", "rows": make_rows(2), "group_id": SALES},
        cli.app(),
    )
    assert run.code == 1
    assert run.error["type"] == "rate_limited"
    assert run.error["retry_after"] == 7
    assert run.error["status"] == 429
    assert run.response["meta"]["retries"] == 0
    assert [s for _, _, s in run.api()] == [429]
    assert run.elapsed < 5  # it did not wait the 7 seconds
    assert emulator.rows(dataset_id, "Sales") == []


def test_a_throttled_token_endpoint_is_rate_limited_not_an_auth_error(cli, emulator):
    # A 429 from the token endpoint has refused nothing: it is rate_limited, not auth_error.
    emulator.set_fault(status=429, retry_after=1, path=r"/token$", count=1)
    run = cli.invoke("list_datasets", {"group_id": SALES}, cli.app())
    assert [status for _, status in run.grants()] == [429]
    assert run.code == 1
    assert run.error["type"] == "rate_limited", run.error
    assert run.error["retry_after"] == 1


def test_a_throttled_token_endpoint_is_waited_out_with_retries(cli, emulator):
    emulator.set_fault(status=429, retry_after=1, path=r"/token$", count=1)
    run = cli.invoke("list_datasets", {"group_id": SALES, "max_retry_count": 1}, cli.app())
    assert run.code == 0, run.stderr
    assert [status for _, status in run.grants()] == [429, 200]
    assert run.response["meta"]["retries"] == 1
    assert run.response["meta"]["duration_ms"] >= 1000
    assert "access_token" in run.response["token"]


def test_the_push_rate_limit_is_waited_out_between_batches(cli):
    # One POST rows per emulated minute, and a minute lasts one real second.
    limits = PushLimits(posts_per_minute=1)
    with emulator_with(cli, time_scale=60, token_lifetime=3600 * 60, limits=limits) as emu:
        dataset_id = push_dataset(emu)
        rows = make_rows(10_500)
        run = cli.invoke(
            "create_rows",
            {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows, "group_id": SALES,
             "max_retry_count": 3},
            cli.app(),
        )  # fmt: skip
        assert run.code == 0, run.stderr
        assert counts(run.result) == {"rows": 10_500, "batches": 2}
        # Both batches leave at once (five may be in flight); the one the minute refuses is
        # retried after its Retry-After until it is taken.
        statuses = [s for _, _, s in run.api()]
        assert sorted(statuses) == [200, 200] + [429] * (len(statuses) - 2)
        assert run.response["meta"]["retries"] == len(statuses) - 2 >= 1
        assert sorted(emu.rows(dataset_id, "Sales"), key=lambda r: r["Qty"]) == rows


# -- connections that break, batches that stop part way ----------------------------------------


def test_a_read_whose_connection_drops_is_retried(cli, emulator):
    emulator.set_fault(action="drop_before", method="GET", path=r"/datasets$", count=1)
    run = cli.invoke("list_datasets", {"group_id": SALES, "max_retry_count": 1}, cli.app())
    assert run.code == 0, run.stderr
    assert run.response["meta"]["retries"] == 1
    assert [s for _, _, s in run.api()] == [None, 200]  # dropped before any answer, then served
    assert [d["id"] for d in run.result["value"]] == [SEED_IDS["sales_dataset"]]


def test_a_connection_dropped_after_the_rows_were_committed_is_not_retried(cli, emulator):
    dataset_id = push_dataset(emulator)
    emulator.set_fault(action="drop_after", method="POST", path=r"/rows$", count=1)
    rows = make_rows(5)
    run = cli.invoke(
        "create_rows",
        {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows, "group_id": SALES,
         "max_retry_count": 3, "debug_request": True},
        cli.app(),
        "--verbose",
    )  # fmt: skip
    assert run.code == 1
    # The one batch's fate is unknown: accounted for as such (see test_bulk_accounting.py).
    assert run.error["type"] == "partial_failure"
    assert run.error["ranges"]["unknown"] == [[0, 5]]
    [batch] = run.error["details"]
    assert batch["error"]["type"] == "network_error"
    assert batch["error"]["request_sent"] is True
    assert "may have processed" in batch["error"]["message"]
    assert run.response["meta"]["retries"] == 0
    assert [s for _, _, s in run.api()] == [200]  # committed, then the connection broke
    assert emulator.rows(dataset_id, "Sales") == rows  # once, not twice


def test_batches_the_push_limit_refuses_pause_the_job_and_are_never_doubled(cli):
    # The emulator takes one POST a minute; this worker's budgets (its own memory store) do not
    # know: the three batches leave together, one is stored, two come back 429.
    with emulator_with(cli, limits=PushLimits(posts_per_minute=1)) as emu:
        dataset_id = push_dataset(emu)
        rows = make_rows(25_000)
        run = cli.invoke(
            "create_rows",
            {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows, "group_id": SALES},
            cli.app(),
        )
        assert run.code == 1
        error = run.error
        assert error["type"] == "rate_limited"  # the push paused: come back after retry_after
        assert error["retry_after"] >= 1
        assert error["job_id"]
        details = error["details"]
        assert sorted(d["status"] for d in details) == ["committed", "failed", "failed"]
        assert all(d["error"]["type"] == "rate_limited" for d in details if d["status"] == "failed")
        (kept,) = [d for d in details if d["status"] == "committed"]
        assert error["committed"] == kept["count"]
        assert error["total"] == 25_000
        assert sorted(s for _, _, s in run.api()) == [200, 429, 429]
        stored = emu.rows(dataset_id, "Sales")
        assert stored == rows[kept["first"] : kept["first"] + kept["count"]]


def _seed_firing_on_the_second_draw(rate: float) -> int:
    """A fault seed whose RNG spares the first matching request and hits the second."""
    for seed in range(1000):
        draws = random.Random(seed)  # noqa: S311 - mirrors the emulator's fault RNG
        if draws.random() >= rate > draws.random():
            return seed
    raise AssertionError("no such seed")


def test_a_batch_dropped_after_commit_is_reported_as_unknown_not_resent(cli, emulator):
    dataset_id = push_dataset(emulator)
    emulator.set_fault(
        action="drop_after", method="POST", path=r"/rows$", count=1, rate=0.5,
        seed=_seed_firing_on_the_second_draw(0.5),
    )  # fmt: skip
    rows = make_rows(25_000)
    run = cli.invoke(
        "create_rows",
        {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows, "group_id": SALES,
         "max_retry_count": 2},
        cli.app(),
    )  # fmt: skip
    assert emulator.faults()[0]["fired"] == 1
    assert run.code == 1
    error = run.error
    assert error["type"] == "partial_failure"
    # The three batches were in flight together; the second to arrive was dropped after commit.
    (lost,) = [d for d in error["details"] if d["status"] == "unknown"]
    assert sorted(d["status"] for d in error["details"]) == ["committed", "committed", "unknown"]
    assert lost["error"]["type"] == "network_error"
    assert error["committed"] == 25_000 - lost["count"]
    assert error["ranges"]["unknown"] == [[lost["first"], lost["first"] + lost["count"]]]
    assert [s for _, _, s in run.api()] == [200, 200, 200]  # it landed; nothing was resent
    assert sorted(r["Qty"] for r in emulator.rows(dataset_id, "Sales")) == list(range(25_000))


# -- serve -------------------------------------------------------------------------------------


def test_serve_answers_in_order_and_fetches_the_service_principal_token_once(cli):
    # Every request waits 100 ms at the service, so the calls overlap, the token fetch too.
    with emulator_with(cli, latency_ms=100) as emu:
        dataset_id = push_dataset(emu)
        emu.clear_requests()
        emu.set_fault(action="stall", stall_ms=600, path=r"/groups$", count=1)  # the first: slow
        app = cli.app()
        rows = make_rows(3)
        on = {"group_id": SALES}
        requests: list[dict[str, Any] | str] = [
            {"id": "1", "action": "list_groups", "inputs": {}, "connection": app},
            {"id": "2", "action": "list_datasets", "inputs": on, "connection": app},
            {"id": "3", "action": "create_rows", "connection": app,
             "inputs": {"dataset_id": dataset_id, "table_name": "Sales", "rows": rows,
                        "columns": COLUMNS, **on}},
            "this line is not JSON",
            {"id": "5", "action": "list_reports", "inputs": {"top": 0, **on}, "connection": app},
            {"id": "6", "action": "list_tables", "inputs": {"dataset_id": dataset_id, **on},
             "connection": app},
            {"id": "7", "action": "list_reports", "inputs": on, "connection": app},
        ]  # fmt: skip
        run = cli.serve(requests, "--concurrency", "4", "--verbose")
        assert run.code == 0, run.stderr
        responses = run.responses
        assert [r.get("id") for r in responses] == ["1", "2", "3", None, "5", "6", "7"]
        assert [r["ok"] for r in responses] == [True, True, True, False, False, True, True]
        assert responses[3]["error"]["type"] == "invalid_request"
        assert responses[4]["error"]["type"] == "invalid_input"
        assert [d["field"] for d in responses[4]["error"]["details"]] == ["top"]
        assert [g["id"] for g in responses[0]["result"]["value"]] == [SALES, OPERATIONS]
        assert counts(responses[2]["result"]) == {"rows": 3, "batches": 1}
        assert [t["name"] for t in responses[5]["result"]["value"]] == ["Sales"]
        # One token for the whole worker: fetched once, handed back once.
        assert run.grants() == [("client_credentials", 200)]
        assert sum("token" in r for r in responses) == 1
        assert len(run.api()) == 5
        assert emu.rows(dataset_id, "Sales") == rows


def test_serve_renews_a_shared_expired_user_token_once(cli):
    with emulator_with(cli, latency_ms=50, single_use_refresh_tokens=True) as emu:
        token = cli.sign_in()
        expired = cli.user({**token, "expires_at": int(time.time()) - 1})
        requests: list[dict[str, Any] | str] = [
            {"id": str(n), "action": action, "inputs": {}, "connection": expired}
            for n, action in enumerate(["list_groups", "list_datasets", "list_reports"] * 2)
        ]
        run = cli.serve(requests, "--concurrency", "3")
        assert run.code == 0, run.stderr
        responses = run.responses
        assert [r["id"] for r in responses] == [str(n) for n in range(6)]
        assert all(r["ok"] for r in responses), responses
        # With rotation, a second refresh would spend a refresh token already spent.
        assert run.grants() == [("refresh_token", 200)]
        renewed = {r["token"]["refresh_token"] for r in responses}
        assert len(renewed) == 1
        assert renewed != {token["refresh_token"]}
        assert emu.state()["tokens"]["active_refresh_tokens"] == 1


# -- failures and exit codes -------------------------------------------------------------------


def test_a_wrong_client_secret_is_an_auth_error_without_the_secret(cli, emulator):
    run = cli.invoke(
        "list_groups", {"debug_request": True}, cli.app(client_secret=WRONG_SECRET), "--verbose"
    )
    assert run.code == 1
    error = run.error
    assert error["type"] == "auth_error"
    assert error["oauth_error"] == "invalid_client"
    assert error["status"] == 401
    assert "AADSTS7000215" in error["oauth_error_description"]
    assert run.grants() == [("client_credentials", 401)]
    assert run.api() == []
    assert "token" not in run.response


def test_a_missing_dataset_is_the_services_404(cli, emulator):
    missing = "00000000-0000-4000-8000-00000000dead"
    run = cli.invoke(
        "create_rows",
        {"dataset_id": missing, "table_name": "Sales", "rows": make_rows(1), "group_id": SALES},
        cli.app(),
    )
    assert run.code == 1
    assert run.error["type"] == "http_error"
    assert run.error["status"] == 404
    assert run.error["code"] == "ItemNotFound"
    assert missing in run.error["message"]


def test_a_call_that_outlives_its_timeout_is_a_timeout(cli, emulator):
    # The stall is far longer than the whole process takes even on a loaded machine, so a run
    # that ends well before it was cut by the 400 ms budget, not by the service's answer.
    emulator.set_fault(action="stall", stall_ms=30_000, path=r"/groups$")
    run = cli.invoke("list_groups", {"timeout": 400}, cli.user(cli.sign_in()))
    assert run.code == 1
    assert run.error["type"] == "timeout"
    assert run.elapsed < 15


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("not a JSON object", "invalid_request"),
        ("no such action", "unknown_action"),
        ("top out of range", "invalid_input"),
        ("rows missing", "invalid_input"),
        ("no token", "invalid_connection"),
    ],
)
def test_a_bad_request_exits_2_and_sends_nothing(cli, emulator, case, kind):
    token = cli.sign_in()
    emulator.clear_requests()
    user = cli.user(token)
    if case == "not a JSON object":
        run = cli.run(["invoke"], json.dumps(["list_groups"]))
    elif case == "no such action":
        run = cli.invoke("drop_everything", {}, user)
    elif case == "top out of range":
        run = cli.invoke("list_datasets", {"top": 0, "page_offset": -1}, user)
    elif case == "rows missing":
        run = cli.invoke("create_rows", {"dataset_id": SEED_IDS["my_dataset"]}, user)
    else:
        run = cli.invoke("list_groups", {}, {"key": "oauth2", "values": cli.user_values()})
    assert run.code == 2
    assert run.error["type"] == kind
    if kind == "invalid_input":
        expected = {"top", "page_offset"} if case == "top out of range" else {"table_name", "rows"}
        assert {d["field"] for d in run.error["details"]} == expected
    assert emulator.requests() == []
