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
    page.click("#run")
    page.wait_for_selector("#status.ok, #status.fail")
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

    # Create Rows into it.
    open_action(page, stack, "create_rows")
    page.fill('[data-path="dataset_id"]', dataset_id)
    page.fill('[data-path="table_name"]', "Orders")
    page.fill('[data-path="group_id"]', group_id)
    rows = [
        {"Product": "Widget", "Qty": 3, "SoldAt": "2026-11-01T10:00:00Z"},
        {"Product": "Gadget", "Qty": 5, "SoldAt": "2026-11-02T11:30:00Z"},
    ]
    page.fill('[data-path="rows"]', json.dumps(rows))
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
    assert titles == ["Push datasets", "Browse", "Other"]
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
    assert titles[-1] == "Admin"
    assert len(titles) == len(set(titles))
    listed = page.eval_on_selector_all(".nav-item", "els => els.map(e => e.dataset.action)")
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
