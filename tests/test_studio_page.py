"""The studio page in a real headless browser (Debian's Chromium, driven by Playwright).

``connectorkit studio`` and ``connectorkit emulator`` run as real processes; the browser fills
the forms the page built from ``describe``, runs them, and reads what a designer would see.
Every response the page receives is recorded, to prove no secret ever reaches it.

Screenshots go to a temporary folder, or to ``$STUDIO_SCREENSHOTS`` (``docs/`` refreshes the
ones the README shows).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from conftest import copy_pack
from studio_helpers import start_emulator, start_studio, store_connection

pytest.importorskip("uvicorn", reason="studio needs the connectorkit[studio] extra")
playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra brings playwright")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("scripts/test installs chromium; it is missing", pytrace=False)
    pytest.skip("no chromium (scripts/test installs it)", allow_module_level=True)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLIENT_ID = "studio-page-tests"
SECRET = f"page-secret-{secrets.token_hex(8)}"
# An access token (a JWT: base64url JSON header "eyJ…", then a dot) or an emulator refresh token;
# none may reach the page.
TOKEN = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.|emu-rt\.")
STORED = "sales-sp"
BULK_ROWS = 60_000
LATENCY_MS = 300
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # A SQLite state store with one connection saved in it, as `connectorkit connections add`
    # saves it: the page offers it beside the emulator.
    state_url = f"sqlite:///{tmp_path_factory.mktemp('state') / 'state.db'}"
    env = {"CONNECTORKIT_STATE_KEY": Fernet.generate_key().decode()}
    emulator = start_emulator(CLIENT_ID, SECRET, "--latency", str(LATENCY_MS))
    try:
        pack = copy_pack(tmp_path_factory.mktemp("pack"))
        values = {
            "tenant_id": "emulator",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "token_url": emulator.urls["token_url"],
            "base_url": emulator.urls["base_url"],
        }
        store_connection(
            state_url, env, STORED, pack, {"key": "client_credentials", "values": values}
        )
        studio = start_studio(
            pack, emulator.urls["url"], f"{CLIENT_ID}:{SECRET}", "--state", state_url, env=env
        )
        try:
            yield {
                "url": studio.urls["url"],
                "emulator": emulator.urls,
                "pack": pack,
                "state": (state_url, env),
            }
        finally:
            studio.stop()
    finally:
        emulator.stop()
    assert SECRET not in studio.stderr


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    chosen = os.environ.get("STUDIO_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Traffic:
    """What went over the wire between the page and the studio server."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.responses: list[tuple[str, str]] = []

    def on_request(self, request) -> None:
        self.requests.append((request.method, request.url, request.post_data or ""))

    def on_response(self, response) -> None:
        try:
            body = response.body().decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - a response without a body (e.g. aborted) has nothing to hide
            body = ""
        self.responses.append((response.url, body))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with playwright.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1440, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, stack):
    page = browser.new_page()
    traffic = Traffic()
    errors: list[str] = []
    page.on("request", traffic.on_request)
    page.on("response", traffic.on_response)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.traffic = traffic
    page.set_default_timeout(WAIT_MS)
    yield page
    page.close()
    assert not errors, errors
    # Not one byte the page received holds the secret or a token.
    for url, body in traffic.responses:
        assert SECRET not in body, url
        assert not TOKEN.search(body), url


def open_action(page, stack, key: str) -> None:
    page.goto(f"{stack['url']}#{key}")
    page.wait_for_selector(f'.nav-item.active[data-action="{key}"]')


def run_and_wait(page) -> str:
    """Run, and the status of that run once it ended (not the one shown before the click)."""
    before = page.get_attribute("#status", "data-run") if page.locator("#status").count() else None
    page.click("#run")
    page.wait_for_function(
        """before => {
            const s = document.querySelector("#status.ok, #status.fail");
            return s !== null && s.dataset.run !== before;
        }""",
        arg=before,
    )
    return page.inner_text("#status")


def result_cell(page, name: str) -> str:
    """The value of one field of a single-object result."""
    return page.inner_text(f'#result-table tr:has(th:text-is("{name}")) td')


def test_create_dataset_then_rows_then_list_tables(page, stack, shots):
    # A list action: the workspaces, as a table.
    open_action(page, stack, "list_groups")
    assert run_and_wait(page).startswith("✓ ok")
    table = page.inner_text("#result-table")
    assert "Sales Analytics" in table
    group_id = page.inner_text(
        '#result-table tbody tr:has(td:text-is("Sales Analytics")) td >> nth=0'
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", group_id)
    page.locator("#action-title").scroll_into_view_if_needed()
    page.screenshot(path=shots / "studio-list-action.png")

    # Create Dataset with three columns entered as rows of the Columns input.
    open_action(page, stack, "create_dataset")
    page.fill('[data-path="dataset_name"]', "Studio Sales")
    page.fill('[data-path="table_name"]', "Orders")
    for index, (name, kind) in enumerate(
        [("Product", "String"), ("Qty", "Int64"), ("SoldAt", "DateTime")]
    ):
        page.click("text=+ Add a row")
        page.fill(f'[data-path="columns[{index}].name"]', name)
        page.select_option(f'[data-path="columns[{index}].dataType"]', label=kind)
    page.fill('[data-path="group_id"]', group_id)
    # Call inputs are folded away until asked for.
    assert not page.is_visible('[data-path="max_retry_count"]')
    page.screenshot(path=shots / "studio-create-dataset.png", full_page=True)
    assert run_and_wait(page).startswith("✓ ok")
    dataset_id = result_cell(page, "id")
    assert result_cell(page, "name") == "Studio Sales"
    sent = page.eval_on_selector(
        ".exchange:last-of-type", "el => { el.open = true; return el.innerText; }"
    )
    assert f"/groups/{group_id}/datasets" in sent
    assert '"name":"SoldAt","dataType":"DateTime"' in sent.replace(" ", "")

    # Create Rows into it: the IDs typed, the rows entered in the editor the table's columns
    # shape (the service names them once workspace, dataset and table are given).
    open_action(page, stack, "create_rows")
    page.fill('[data-path="group_id"]', group_id)
    page.fill('[data-path="dataset_id"]', dataset_id)
    page.fill('[data-path="table_name"]', "Orders")
    page.press('[data-path="table_name"]', "Tab")
    page.wait_for_selector('[data-dynamic-schema="rows"] table.rows th:has-text("SoldAt")')
    rows = [
        {"Product": "Widget", "Qty": 3, "SoldAt": "2026-11-01T10:00:00Z"},
        {"Product": "Gadget", "Qty": 5, "SoldAt": "2026-11-02T11:30:00Z"},
    ]
    for index, row in enumerate(rows):
        page.click('[data-dynamic-schema="rows"] >> text=+ Add a row')
        for column, value in row.items():
            page.fill(f'[data-path="rows[{index}].{column}"]', str(value))
    assert run_and_wait(page).startswith("✓ ok")
    assert result_cell(page, "rows") == "2"
    assert result_cell(page, "batches") == "1"

    # List Tables shows the table; the emulator holds the rows.
    open_action(page, stack, "list_tables")
    page.fill('[data-path="dataset_id"]', dataset_id)
    page.fill('[data-path="group_id"]', group_id)
    assert run_and_wait(page).startswith("✓ ok")
    assert page.inner_text("#result-table tbody td >> nth=0") == "Orders"
    held = httpx.get(
        f"{stack['emulator']['url']}/_emulator/datasets/{dataset_id}/tables/Orders/rows", timeout=10
    ).json()["value"]
    assert [(r["Product"], r["Qty"]) for r in held] == [("Widget", 3), ("Gadget", 5)]
    # What to copy: the same run from a shell.
    command = page.inner_text("#recipe-run")
    assert command == (
        f"connectorkit run list_tables dataset_id={dataset_id} group_id={group_id} "
        "--connection emulator.json"
    )
    invoke = page.inner_text("#recipe-invoke")
    request = json.loads(invoke.split("\n", 1)[1].rsplit("\n", 1)[0])
    assert request["inputs"] == {"dataset_id": dataset_id, "group_id": group_id}
    assert request["connection"]["values"]["client_secret"] == "***"


def test_bad_inputs_are_shown_next_to_their_fields(page, stack):
    open_action(page, stack, "list_tables")
    page.fill('[data-path="top"]', "5000")
    page.click("#run")
    # Checked in the browser against the same schema: nothing was sent.
    assert page.inner_text('[data-error-for="top"]') == "should be at most 1000"
    assert page.inner_text('[data-error-for="dataset_id"]') == "is required"
    assert "invalid" in page.get_attribute('[data-path="top"]', "class")
    assert not [r for r in page.traffic.requests if r[1].endswith("/api/run")]

    # The runtime's own invalid_input details land next to their fields too.
    open_action(page, stack, "create_rows")
    page.uncheck("#browser-check")
    page.fill('[data-path="dataset_id"]', "00000000-0000-0000-0000-000000000000")
    page.fill('[data-path="table_name"]', "Orders")
    page.fill('[data-path="rows"]', "[1, 2]")
    assert run_and_wait(page).startswith("✗ invalid_input · exit code 2")
    assert page.inner_text('[data-error-for="rows"]') == (
        "row 1: input should be a valid dictionary\nrow 2: input should be a valid dictionary"
    )
    page.check("#browser-check")


def test_a_secret_never_reaches_the_page(page, stack):
    open_action(page, stack, "list_groups")
    page.select_option("#connection", "values:client_credentials")
    secret_field = page.locator('[data-path="connection.values.client_secret"]')
    assert secret_field.get_attribute("type") == "password"
    emulator = stack["emulator"]
    page.fill('[data-path="connection.values.tenant_id"]', "emulator")
    page.fill('[data-path="connection.values.client_id"]', CLIENT_ID)
    secret_field.fill(SECRET)
    page.fill('[data-path="connection.values.token_url"]', emulator["token_url"])
    page.fill('[data-path="connection.values.base_url"]', emulator["base_url"])
    assert run_and_wait(page).startswith("✓ ok")
    page.eval_on_selector_all("details", "els => els.forEach(el => { el.open = true; })")
    assert SECRET not in page.content()
    assert SECRET not in page.inner_text("body")
    assert not TOKEN.search(page.content())
    assert json.loads(page.inner_text("#recipe-connection"))["values"]["client_secret"] == "***"
    # The secret left the page once, to the studio server on loopback, to run the call.
    carrying = [(m, u) for m, u, body in page.traffic.requests if SECRET in body]
    assert carrying == [("POST", f"{stack['url']}api/run")]


def test_a_stored_connection_is_offered_and_runs(page, stack):
    open_action(page, stack, "list_groups")
    options = page.eval_on_selector_all("#connection option", "els => els.map(e => e.value)")
    assert options[:2] == ["preset:emulator", f"preset:stored:{STORED}"]
    page.select_option("#connection", f"preset:stored:{STORED}")
    shown = page.inner_text(".conn-values")
    assert "client_secret\t***" in shown
    assert f"Stored as {STORED}, with no token saved" in shown
    assert run_and_wait(page).startswith("✓ ok")
    assert "Sales Analytics" in page.inner_text("#result-table")
    assert page.inner_text("#recipe-run") == f"connectorkit run list_groups --connection {STORED}"
    invoke = page.inner_text("#recipe-invoke")
    assert json.loads(invoke.split("\n", 1)[1].rsplit("\n", 1)[0])["connection"] == {"name": STORED}
    assert page.locator("#recipe-connection").count() == 0
    # One saved while the page is open shows up without a reload; the choice stays as it was.
    state_url, env = stack["state"]
    store_connection(
        state_url,
        env,
        "added-later",
        stack["pack"],
        {
            "key": "client_credentials",
            "values": {"tenant_id": "t", "client_id": "c", "client_secret": "s"},
        },
    )
    page.wait_for_selector(
        '#connection option[value="preset:stored:added-later"]', state="attached"
    )
    assert page.eval_on_selector("#connection", "el => el.value") == f"preset:stored:{STORED}"


def test_a_bulk_push_shows_its_progress(page, stack, shots, tmp_path):
    open_action(page, stack, "list_groups")
    assert run_and_wait(page).startswith("✓ ok")
    group_id = page.inner_text("#result-table tbody td >> nth=0")
    open_action(page, stack, "create_dataset")
    page.fill('[data-path="dataset_name"]', "Bulk")
    page.fill('[data-path="table_name"]', "Events")
    page.fill('[data-path="group_id"]', group_id)
    page.click("text=Use the example")
    assert run_and_wait(page).startswith("✓ ok")
    dataset_id = result_cell(page, "id")

    rows_file = tmp_path / "rows.json"
    rows_file.write_text(
        json.dumps(
            [
                {"Product": f"P{i % 50}", "Qty": i % 7, "SoldAt": "2026-11-03T09:00:00Z"}
                for i in range(BULK_ROWS)
            ]
        )
    )
    open_action(page, stack, "create_rows")
    page.fill('[data-path="dataset_id"]', dataset_id)
    page.fill('[data-path="table_name"]', "Events")
    page.fill('[data-path="group_id"]', group_id)
    page.set_input_files('[data-field="rows"] input[type=file]', str(rows_file))
    page.wait_for_selector('[data-field="rows"] .file-name:not(:empty)')
    page.click("#run")
    # The page's CSP forbids evaluated strings, so poll from here rather than wait_for_function.
    deadline = time.monotonic() + WAIT_MS / 1000
    while not _batches_done(page) >= 2:
        assert time.monotonic() < deadline, "the push showed no progress"
        page.wait_for_timeout(40)
    assert page.inner_text("#status").startswith("Running")
    page.locator("#action-title").scroll_into_view_if_needed()
    page.screenshot(path=shots / "studio-bulk-progress.png")
    started = time.monotonic()
    page.wait_for_selector("#status.ok, #status.fail", timeout=60_000)
    assert page.inner_text("#status").startswith("✓ ok"), page.inner_text("#status")
    assert time.monotonic() - started < 60
    assert page.inner_text("#progress-items") == f"{BULK_ROWS:,} / {BULK_ROWS:,}"
    assert page.inner_text("#progress-batches") == "6 / 6"
    assert result_cell(page, "rows") == str(BULK_ROWS)
    assert page.inner_text("#recipe-run").startswith(
        f"# rows.json: the rows input as JSON ({BULK_ROWS:,} items)\n"
    )


def _batches_done(page) -> int:
    shown = page.query_selector("#progress-batches")
    return int(shown.inner_text().split("/")[0]) if shown is not None else 0


def test_the_page_follows_edits_to_the_pack(page, stack):
    open_action(page, stack, "list_groups")
    path = stack["pack"] / "actions" / "list_groups.yaml"
    original = path.read_text()
    try:
        path.write_text(original.replace("label: List Groups", "label: List Workspaces"))
        page.wait_for_selector('.nav-item[data-action="list_groups"]:has-text("List Workspaces")')
        assert page.inner_text("#action-title") == "List Workspaces"
        assert page.inner_text("#banner").startswith("Reloaded")
        path.write_text("key: [unclosed\n")
        page.wait_for_selector("#banner.bad")
        assert "list_groups.yaml" in page.inner_text("#banner")
    finally:
        path.write_text(original)
    page.wait_for_selector('.nav-item[data-action="list_groups"]:has-text("List Groups")')


def test_search_and_the_form_kinds_of_raw_request(page, stack):
    page.goto(stack["url"])
    page.wait_for_selector('.nav-item[data-action="create_rows"]')  # the catalog has loaded
    page.fill("#search", "rows")
    page.wait_for_selector('.nav-item[data-action="list_groups"]', state="detached")
    shown = page.eval_on_selector_all(".nav-item", "els => els.map(e => e.dataset.action)")
    assert {"create_rows", "delete_rows"} <= set(shown)
    assert "list_groups" not in shown
    page.fill("#search", "")
    open_action(page, stack, "raw_request")
    assert page.eval_on_selector('[data-path="method"]', "el => el.tagName") == "SELECT"
    assert page.input_value('[data-path="method"]') == '"GET"'
    # Key/value inputs are pairs; File Data's values are files, sent as base64.
    page.click('[data-field="headers"] >> text=+ Add a pair')
    assert page.is_visible('[data-path="headers[0].key"]')
    page.click('[data-field="file_data"] >> text=+ Add a pair')
    assert page.get_attribute('[data-path="file_data[0].value"]', "type") == "file"


def test_describe_groups_and_examples_shape_the_page(page, stack):
    """When the catalog groups actions and gives examples, the page follows them."""

    def with_groups(route):
        catalog = route.fetch().json()
        actions = catalog["catalog"]["actions"]
        for action in actions:  # the groups alone decide the order here
            action.pop("importance", None)
        catalog["catalog"]["groups"] = [
            {"label": "Push datasets", "actions": ["create_dataset", "create_rows"]},
            {"label": "Browse", "actions": ["list_groups"]},
        ]
        [create] = [a for a in actions if a["key"] == "create_dataset"]
        create["examples"] = [
            {
                "title": "Two columns",
                "inputs": {
                    "dataset_name": "Sales",
                    "table_name": "Orders",
                    "columns": [
                        {"name": "Product", "dataType": "String"},
                        {"name": "Qty", "dataType": "Int64"},
                    ],
                },
            }
        ]
        route.fulfill(json=catalog)

    page.route("**/api/catalog", with_groups)
    open_action(page, stack, "create_dataset")
    titles = page.eval_on_selector_all(".group-title", "els => els.map(e => e.textContent)")
    assert titles == ["Push datasets", "Browse", "Other", "Triggers"]  # the pack's triggers last
    first = page.eval_on_selector_all(
        ".nav-item", "els => els.slice(0, 3).map(e => e.dataset.action)"
    )
    assert first == ["create_dataset", "create_rows", "list_groups"]
    page.click("text=Two columns")
    assert page.input_value('[data-path="dataset_name"]') == "Sales"
    assert page.input_value('[data-path="columns[1].name"]') == "Qty"
    assert page.input_value('[data-path="columns[1].dataType"]') == '"Int64"'


def test_an_operation_left_running_is_waited_for_from_the_page(page, stack, shots):
    open_action(page, stack, "export_to_file")
    page.fill('[data-path="report_id"]', "4e907000-0000-4000-8000-000000000002")
    page.fill('[data-path="group_id"]', "c0ffee00-5a1e-4a1a-8a1b-000000000001")
    page.select_option('[data-path="format"]', label="PDF")
    page.uncheck('[data-path="wait"]')
    assert run_and_wait(page).startswith("✓ ok")
    handle = page.inner_text("#operation-handle")
    assert handle.startswith("op_")
    assert "The operation goes on" in page.inner_text("#operation")
    page.locator("#operation").scroll_into_view_if_needed()
    page.screenshot(path=shots / "studio-operation.png")

    page.click("#wait-operation")
    page.wait_for_selector("#status.ok:not(:has-text('Running'))")
    page.wait_for_function(
        "() => document.querySelector('#envelope') !== null"
        " && document.querySelector('#envelope').innerText.includes('base64')"
    )
    assert result_cell(page, "encoding") == "base64"
    assert page.locator("#operation").count() == 0
    assert page.inner_text("#recipe-run").startswith(f"connectorkit operations wait {handle} ")


def test_the_page_opens_on_the_important_actions_and_lists_administration_last(page, stack):
    page.goto(stack["url"])
    page.wait_for_selector(".nav-item.active")
    titles = page.eval_on_selector_all(".group-title", "els => els.map(e => e.textContent)")
    assert titles[0] == "Important"
    assert titles[-2:] == ["Admin", "Triggers"]  # the actions' groups, then the triggers
    assert len(titles) == len(set(titles))
    listed = page.eval_on_selector_all(
        ".nav-item[data-action]", "els => els.map(e => e.dataset.action)"
    )
    assert sorted(listed[:9]) == sorted(
        [
            "create_dataset",
            "create_rows",
            "delete_rows",
            "list_datasets",
            "list_groups",
            "list_reports",
            "list_tables",
            "update_table",
            "raw_request",
        ]
    )
    assert len(listed) == len(set(listed))  # each action once
    # With nothing chosen, the page opens the first important action.
    assert page.get_attribute(".nav-item.active", "data-action") == listed[0]


def _emulator_token(emulator) -> str:
    answer = httpx.post(
        emulator["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "scope": "https://analysis.windows.net/powerbi/api/.default",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _choices(page, key: str) -> list[str]:
    return page.eval_on_selector_all(
        f'[data-choices="{key}"] .choice .choice-text', "els => els.map(e => e.textContent)"
    )


def _pick(page, key: str, label: str) -> None:
    """Open an input's choices (if closed), wait for ``label`` and pick it."""
    if not page.is_visible(f'[data-choices="{key}"] .choice-panel'):
        page.click(f'[data-choices="{key}"] .choice-open')
    page.click(f'[data-choices="{key}"] .choice:has-text("{label}")')


def _header(page) -> list[str]:
    return page.eval_on_selector_all(
        '[data-dynamic-schema="rows"] table.rows thead th', "els => els.map(e => e.innerText)"
    )


def _two_table_dataset(emulator, workspace: str, name: str) -> str:
    """A push dataset with the tables Orders (Product, Qty) and Returns (Reason, Refund)."""
    made = httpx.post(
        f"{emulator['base_url']}/groups/{workspace}/datasets",
        json={
            "name": name,
            "defaultMode": "Push",
            "tables": [
                {"name": "Orders", "columns": [
                    {"name": "Product", "dataType": "String"},
                    {"name": "Qty", "dataType": "Int64"},
                ]},
                {"name": "Returns", "columns": [
                    {"name": "Reason", "dataType": "String"},
                    {"name": "Refund", "dataType": "Double"},
                ]},
            ],
        },
        headers={"Authorization": f"Bearer {_emulator_token(emulator)}"},
        timeout=10,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _log_end(emulator) -> int:
    """Where the emulator's request log ends now."""
    entries = httpx.get(f"{emulator['url']}/_emulator/requests", timeout=10).json()["value"]
    return int(entries[-1]["seq"]) if entries else 0


def _api_log(emulator, since: int) -> list[tuple[str, str, Any]]:
    """(method, path below the API root, query) of the API requests since ``since``."""
    seen = httpx.get(
        f"{emulator['url']}/_emulator/requests", params={"since": since, "kind": "api"}, timeout=10
    ).json()["value"]
    return [
        (r["method"], r["path"].removeprefix("/v1.0/myorg"), r.get("query") or "") for r in seen
    ]


def test_choices_come_from_the_service_and_the_rows_editor_follows_the_table(page, stack, shots):
    emulator = stack["emulator"]
    workspace = "c0ffee00-5a1e-4a1a-8a1b-000000000001"  # the emulator's Sales Analytics
    dataset = _two_table_dataset(emulator, workspace, "Picked")
    since = _log_end(emulator)

    open_action(page, stack, "create_rows")
    # The form goes from the workspace down: each input before those its choices shape.
    fields = page.eval_on_selector_all(
        "#action-form .card:first-child > div > [data-field]",
        "els => els.map(e => e.dataset.field)",
    )
    assert fields[:4] == ["group_id", "dataset_id", "table_name", "rows"]
    # Before a table is chosen, the rows are JSON, and the page says what shapes them.
    assert page.is_visible('[data-dynamic-schema="rows"] textarea[data-path="rows"]')
    page.wait_for_selector('[data-dynamic-schema="rows"] .schema-note:has-text("Dataset ID")')

    # The workspace, searched at the service.
    page.click('[data-choices="group_id"] .choice-open')
    page.wait_for_selector('[data-choices="group_id"] .choice:has-text("Operations")')
    assert _choices(page, "group_id") == ["Sales Analytics", "Operations"]
    page.fill('[data-choices="group_id"] .choice-search', "Sal")
    page.wait_for_function(
        "() => !document.querySelector('[data-choices=\"group_id\"] .choice-list')"
        ".innerText.includes('Operations')"
    )
    _pick(page, "group_id", "Sales Analytics")
    assert page.input_value('[data-path="group_id"]') == workspace
    assert page.inner_text('[data-choices="group_id"] .choice-label') == "Sales Analytics"

    # The datasets of that workspace, then the tables of the dataset.
    page.click('[data-choices="dataset_id"] .choice-open')
    page.wait_for_selector('[data-choices="dataset_id"] .choice:has-text("Picked")')
    page.screenshot(path=shots / "studio-choices.png")
    _pick(page, "dataset_id", "Picked")
    assert page.input_value('[data-path="dataset_id"]') == dataset
    _pick(page, "table_name", "Returns")
    assert _choices(page, "table_name") == ["Orders", "Returns"]

    # The rows editor has the chosen table's columns, and follows when the table changes.
    page.wait_for_selector('[data-dynamic-schema="rows"] table.rows th:has-text("Refund")')
    assert _header(page)[1:3] == ["Reason", "Refund"]
    _pick(page, "table_name", "Orders")
    page.wait_for_selector('[data-dynamic-schema="rows"] table.rows th:has-text("Qty")')
    assert _header(page)[1:3] == ["Product", "Qty"]
    page.click('[data-dynamic-schema="rows"] >> text=+ Add a row')
    page.fill('[data-path="rows[0].Product"]', "Widget")
    page.fill('[data-path="rows[0].Qty"]', "3")
    assert page.get_attribute('[data-path="rows[0].Qty"]', "type") == "number"
    page.locator('[data-dynamic-schema="rows"]').scroll_into_view_if_needed()
    page.screenshot(path=shots / "studio-rows-editor.png")
    # The tables were asked once: the columns came from the same answer, kept a minute.
    tables = ("GET", f"/groups/{workspace}/datasets/{dataset}/tables", "")
    assert _api_log(emulator, since).count(tables) == 1
    assert run_and_wait(page).startswith("✓ ok")
    assert result_cell(page, "rows") == "1"
    held = httpx.get(
        f"{emulator['url']}/_emulator/datasets/{dataset}/tables/Orders/rows", timeout=10
    ).json()["value"]
    assert [(r["Product"], r["Qty"]) for r in held] == [("Widget", 3)]

    # The workspaces were searched at the service, and the datasets listed for the one chosen.
    asked = _api_log(emulator, since)
    searched = [q for _, p, q in asked if p == "/groups" and q]
    assert {"$filter": "contains(name,'Sal')"} in searched
    assert ("GET", f"/groups/{workspace}/datasets", "") in asked


def test_another_workspace_clears_what_was_picked_in_the_first(page, stack):
    workspace = "c0ffee00-5a1e-4a1a-8a1b-000000000001"
    open_action(page, stack, "create_rows")
    _pick(page, "group_id", "Sales Analytics")
    # A dataset made meanwhile: the list kept for a minute lacks it until it is refreshed.
    dataset = _two_table_dataset(stack["emulator"], workspace, "Chosen")
    page.click('[data-choices="dataset_id"] .choice-open')
    page.click('[data-choices="dataset_id"] .choice-refresh')
    _pick(page, "dataset_id", "Chosen")
    assert page.input_value('[data-path="dataset_id"]') == dataset
    _pick(page, "table_name", "Orders")
    page.wait_for_selector('[data-dynamic-schema="rows"] table.rows th:has-text("Qty")')
    # A value typed by hand would stay; these were picked from the first workspace's lists.
    page.click('[data-choices="group_id"] .choice-open')
    _pick(page, "group_id", "Operations")
    page.wait_for_function(
        "() => document.querySelector('[data-path=\"dataset_id\"]').value === ''"
    )
    assert page.input_value('[data-path="table_name"]') == ""
    page.wait_for_selector('[data-dynamic-schema="rows"] textarea[data-path="rows"]')
    assert page.inner_text('[data-choices="dataset_id"] .choice-label') == ""


def test_a_trigger_is_listed_with_its_inputs_and_polled(page, stack, shots):
    page.goto(stack["url"])
    page.wait_for_selector('.nav-item[data-trigger="report_published"]')
    page.click('.nav-item[data-trigger="report_published"]')
    page.wait_for_selector('.nav-item.active[data-trigger="report_published"]')
    assert page.inner_text("#action-title") == "When a Report Is Published"
    assert page.locator('[data-path="group_id"]').count() == 1
    assert page.locator('[data-path="max_events"]').count() == 1
    page.fill('[data-path="group_id"]', "c0ffee00-5a1e-4a1a-8a1b-000000000001")
    assert run_and_wait(page).startswith("✓ ok")
    assert page.inner_text("#events-note").startswith("The subscription starts here")
    # Meanwhile a report is published (cloned) in the workspace: the next poll shows it.
    emulator = stack["emulator"]
    token = _emulator_token(emulator)
    group = f"{emulator['base_url']}/groups/c0ffee00-5a1e-4a1a-8a1b-000000000001"
    reports = httpx.get(f"{group}/reports", headers={"Authorization": f"Bearer {token}"}).json()
    cloned = httpx.post(
        f"{group}/reports/{reports['value'][0]['id']}/Clone",
        json={"name": "Pipeline (copy)"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert cloned.status_code == 200, cloned.text
    assert run_and_wait(page).startswith("✓ ok")
    assert page.inner_text("#events-note") == "1 new event."
    assert "Pipeline (copy)" in page.inner_text("#events-table")
    assert page.inner_text("#recipe-run").startswith("connectorkit watch report_published")
    page.screenshot(path=str(shots / "studio-trigger.png"), full_page=True)
