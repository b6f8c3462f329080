"""x-ms-trigger operations imported as triggers: polling ones made, the others counted.

tests/data/triggers_import is a small definition of our own: a polling batch trigger (its
state in an internal `after` parameter), a polling single one, a batch one whose answer holds
two lists, a webhook (x-ms-notification-url) and a subscription sent as PUT. The webhook of
the corpus sample datascope (MIT, see tests/data/power_platform/LICENSE) is counted too.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from conftest import ROOT
from connectorkit.authoring.powerplatform._import import import_power_platform
from connectorkit.call._run import Runner
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DATA = ROOT / "tests" / "data"
DEFINITION = DATA / "triggers_import"


@pytest.fixture
def imported(tmp_path) -> tuple[Path, list[str]]:
    root = tmp_path / "files"
    report = import_power_platform(DEFINITION, root)
    return root, report.lines()


def test_polling_triggers_become_triggers_that_follow_the_location(imported):
    root, lines = imported
    assert sorted(p.name for p in (root / "triggers").iterdir()) == [
        "when_a_file_is_uploaded.yaml",
        "when_the_service_status_changes.yaml",
    ]
    uploaded = yaml.safe_load((root / "triggers" / "when_a_file_is_uploaded.yaml").read_text())
    assert uploaded["label"] == "When a file is uploaded"
    assert uploaded["description"] == "When a file is uploaded to a folder."
    # The service's own state (`after`, internal) is left to the Location; the rest are inputs.
    assert [i["key"] for i in uploaded["inputs"]] == ["folder_id", "extension"]
    assert uploaded["list"] == {
        "action": "poll_folder_for_file_upload",
        "inputs": {"folder_id": "{folder_id}", "extension": "{extension}"},
        "items": "files",
    }
    assert uploaded["next"] == {"url": "{$headers.Location}", "empty": [202]}
    single = yaml.safe_load(
        (root / "triggers" / "when_the_service_status_changes.yaml").read_text()
    )
    assert single["list"] == {"action": "poll_status", "items": ""}
    # The pack loads: the triggers pass the schema and every rule.
    pack = load_pack(root)
    assert sorted(pack.triggers) == ["when_a_file_is_uploaded", "when_the_service_status_changes"]
    assert pack.triggers["when_a_file_is_uploaded"].mode == "next"
    # The actions of the same operations are there too.
    assert (root / "actions" / "poll_folder_for_file_upload.yaml").is_file()
    assert "  created  triggers/when_a_file_is_uploaded.yaml" in lines
    # A 202 of a trigger's operation is its "nothing new", not an operation to follow.
    assert not [line for line in lines if "needs a long_running block" in line]


def test_what_cannot_be_a_trigger_is_listed_with_its_reason(imported):
    _, lines = imported
    assert [line for line in lines if "not imported" in line] == [
        "  trigger not imported: batch trigger: no list in its answer (1)",
        (
            "  trigger not imported: trigger sent as PUT, not a GET: connectorkit triggers poll "
            "with a GET (1)"
        ),
        (
            "  trigger not imported: webhook trigger (x-ms-notification-url): connectorkit "
            "triggers poll (1)"
        ),
    ]


def test_a_webhook_of_the_corpus_is_counted_not_dropped(tmp_path):
    root = tmp_path / "datascope"
    lines = import_power_platform(DATA / "power_platform" / "datascope", root).lines()
    assert (
        "  trigger not imported: webhook trigger (x-ms-notification-url): connectorkit "
        "triggers poll (1)"
    ) in lines
    assert not (root / "triggers").exists()
    # Without a pack to import into, a dry run still counts it.
    dry = import_power_platform(
        DATA / "power_platform" / "datascope", tmp_path / "none", dry_run=True
    )
    assert "  not imported: triggers (webhooks, x-ms-notification-url) (1)" in dry.lines()
    assert not (tmp_path / "none").exists()


def test_a_second_import_keeps_the_triggers_there(imported):
    root, _ = imported
    path = root / "triggers" / "when_a_file_is_uploaded.yaml"
    edited = path.read_text().replace("When a file is uploaded\n", "When a File Is Uploaded\n", 1)
    path.write_text(edited)
    lines = import_power_platform(DEFINITION, root).lines()
    assert "  kept  triggers/when_a_file_is_uploaded.yaml (already in the pack)" in lines
    assert path.read_text() == edited


# -- an imported trigger, polled -------------------------------------------------------------


class _Folder:
    """A folder service with Power Automate's polling contract: state in the Location."""

    def __init__(self) -> None:
        self.files: list[dict[str, Any]] = []
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def upload(self, name: str) -> None:
        with self.lock:
            self.files.append({"id": f"f{len(self.files) + 1}", "name": name, "size": 1})


@pytest.fixture
def folder(monkeypatch) -> Iterator[tuple[_Folder, str]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    service = _Folder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            service.asked.append(self.path)
            split = urlsplit(self.path)
            query = parse_qs(split.query)
            with service.lock:
                files = list(service.files)
            after = int(query["after"][0]) if "after" in query else len(files)
            new = files[after:]
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            location = f"{host}{split.path}?after={after + len(new)}"
            body = json.dumps({"files": new, "folder": "F"}).encode() if new else b""
            self.send_response(200 if new else 202)
            self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield service, f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_an_imported_trigger_gives_each_upload_once_and_repeats_a_lost_answer(imported, folder):
    root, _ = imported
    service, base_url = folder
    pack = load_pack(root)
    runner = Runner(state_url="memory://")

    def poll(**more: Any) -> dict[str, Any]:
        request = {
            "trigger": "when_a_file_is_uploaded",
            "subscription": "uploads",
            "inputs": {"folder_id": "F"},
            "connection": {"key": "none", "values": {"base_url": base_url}},
            **more,
        }
        response, code = respond(pack, runner, json.dumps(request))
        assert (code, response["ok"]) == (0, True), response
        result: dict[str, Any] = response["result"]
        return result

    try:
        service.upload("before.csv")
        first = poll()
        assert (first["events"], first["first"]) == ([], True)  # the service starts from now
        service.upload("a.csv")
        service.upload("b.csv")
        two = poll()
        assert [e["data"]["name"] for e in two["events"]] == ["a.csv", "b.csv"]
        assert poll()["events"] == []  # 202: nothing new
        # A lost answer, polled again from the last cursor the platform kept: the same events.
        kept = poll()["cursor"]
        service.upload("c.csv")
        lost = poll()
        assert [e["data"]["name"] for e in lost["events"]] == ["c.csv"]
        assert poll(cursor=kept) == lost
        assert poll()["events"] == []
        # The first poll sent the action's request; the others went where Location said.
        assert service.asked[0] == "/api/folders/F/poll"
        assert all(p.startswith("/api/folders/F/poll?after=") for p in service.asked[1:])
    finally:
        runner.close()
