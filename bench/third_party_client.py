"""Drive the emulator with a Power BI client nobody on this project wrote: pypowerbi (PyPI).

pypowerbi lets its API base URL be set (`PowerBIClient(api_url, token)`) and builds its URLs its
own way (trailing slashes included). The script starts `connectorkit emulator` as a user would,
obtains a service principal token, runs the client's calls against a workspace, and prints each
call OK or failed, then the totals.

    pip install -e '.[emulator,bench]'      # pypowerbi comes with the bench extra
    .venv/bin/python bench/third_party_client.py
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import traceback
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable

try:
    from pypowerbi.client import PowerBIClient, TokenRequest
    from pypowerbi.dataset import Column, Dataset, Table
except ImportError:
    print("needs pypowerbi: pip install -e '.[bench]'", file=sys.stderr)
    sys.exit(2)

SALES = "c0ffee00-5a1e-4a1a-8a1b-000000000001"
SALES_DATASET = "d47a5e70-0000-4000-8000-000000000002"
SALES_REPORT = "4e907000-0000-4000-8000-000000000002"


class Row:
    """A row as pypowerbi takes it: an object whose attributes are the columns."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def start() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "connectorkit", "emulator", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    if process.stdout is None:
        sys.exit("no stdout from the emulator")
    ready, _, _ = select.select([process.stdout], [], [], 60)
    if not ready:
        process.kill()
        sys.exit("the emulator did not start")
    return process, json.loads(process.stdout.readline())


def main() -> int:
    process, urls = start()
    try:
        answer = httpx.post(
            urls["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": "connectorkit-demo",
                "client_secret": "demo-secret",
                "scope": "https://analysis.windows.net/powerbi/api/.default",
            },
        ).json()
        client = PowerBIClient(urls["url"], {"accessToken": answer["access_token"]})
        pushed = Dataset("Bench", tables=[Table("Sales", columns=[Column("Product", "string")])])
        state: dict[str, Any] = {}

        def post_dataset() -> object:
            created = client.datasets.post_dataset(pushed, group_id=SALES)
            state["dataset"] = created.id
            return created

        calls: list[tuple[str, Callable[[], object]]] = [
            ("groups.get_groups", client.groups.get_groups),
            ("groups.count", client.groups.count),
            ("datasets.get_datasets", lambda: client.datasets.get_datasets(group_id=SALES)),
            ("datasets.get_dataset", lambda: client.datasets.get_dataset(SALES_DATASET, SALES)),
            ("datasets.post_dataset", post_dataset),
            ("datasets.get_tables", lambda: client.datasets.get_tables(state["dataset"], SALES)),
            ("datasets.post_rows", lambda: client.datasets.post_rows(
                state["dataset"], "Sales", [Row(Product="A")], SALES)),
            ("datasets.delete_rows", lambda: client.datasets.delete_rows(
                state["dataset"], "Sales", SALES)),
            ("datasets.refresh_dataset", lambda: client.datasets.refresh_dataset(
                SALES_DATASET, group_id=SALES)),
            ("datasets.get_dataset_refresh_history", lambda: client.datasets
                .get_dataset_refresh_history(SALES_DATASET, group_id=SALES)),
            ("datasets.get_dataset_parameters", lambda: client.datasets
                .get_dataset_parameters(SALES_DATASET, group_id=SALES)),
            ("datasets.get_refresh_schedule", lambda: client.datasets
                .get_refresh_schedule(SALES_DATASET, group_id=SALES)),
            ("datasets.get_dataset_gateway_datasources", lambda: client.datasets
                .get_dataset_gateway_datasources(SALES_DATASET, group_id=SALES)),
            ("reports.get_reports", lambda: client.reports.get_reports(group_id=SALES)),
            ("reports.get_report", lambda: client.reports.get_report(SALES_REPORT, SALES)),
            ("reports.clone_report", lambda: client.reports.clone_report(
                SALES_REPORT, "Bench copy", SALES, SALES_DATASET, SALES)),
            ("reports.rebind_report", lambda: client.reports.rebind_report(
                SALES_REPORT, SALES_DATASET, SALES)),
            ("reports.generate_token", lambda: client.reports.generate_token(
                SALES_REPORT, TokenRequest("View"), SALES)),
            ("imports.get_imports", lambda: client.imports.get_imports(group_id=SALES)),
            ("datasets.delete_dataset", lambda: client.datasets.delete_dataset(
                state["dataset"], SALES)),
        ]  # fmt: skip
        ok = failed = 0
        for name, call in calls:
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, then counted
                failed += 1
                detail = traceback.format_exception_only(exc)[-1].strip()
                print(f"FAILED  {name}: {detail[:160]}")
            else:
                ok += 1
                print(f"OK      {name}")
        print(f"pypowerbi against the emulator: {ok} calls OK, {failed} failed")
        return 0 if failed == 0 else 1
    finally:
        process.terminate()
        process.wait(15)


if __name__ == "__main__":
    sys.exit(main())
