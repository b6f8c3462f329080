"""Triggers as pack data and as requests: what is checked, refused and described.

The polls themselves, against the emulator through the real command, are in
tests/test_e2e_triggers.py and tests/test_e2e_trigger_workers.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import PACK, ROOT, copy_pack
from connectorkit.authoring._catalog import describe, docs_markdown, trigger_markdown
from connectorkit.call._run import Runner
from connectorkit.pack._check import validate_pack
from connectorkit.pack._load import load_pack
from connectorkit.protocol._protocol import respond

SALES = "c0ffee00-5a1e-4a1a-8a1b-000000000001"
CONNECTION = {
    "key": "client_credentials",
    "values": {
        "tenant_id": "contoso",
        "client_id": "app",
        "client_secret": "s3cr3t-value",
        # Nothing listens here: every refusal below comes before a request is sent.
        "token_url": "http://127.0.0.1:9/token",
        "base_url": "http://127.0.0.1:9/v1.0/myorg",
    },
}


@pytest.fixture(scope="module")
def pack():
    return load_pack(PACK)


def poll(pack, **request):
    runner = Runner(state_url="memory://")
    try:
        body = {"connection": CONNECTION, **request}
        return respond(pack, runner, json.dumps(body))
    finally:
        runner.close()


# -- the pack's files ------------------------------------------------------------------------


def test_the_power_bi_pack_has_its_triggers(pack):
    assert sorted(pack.triggers) == [
        "dataset_deleted",
        "dataset_published",
        "new_audit_events",
        "push_job_finished",
        "refresh_completed",
        "refresh_failed",
        "report_deleted",
        "report_published",
    ]
    failed = pack.triggers["refresh_failed"]
    assert failed.mode == "order"
    assert failed.list.each is not None
    assert failed.identity == ("{$parent.id}", "{$item.requestId}")
    assert pack.triggers["report_deleted"].mode == "changes"
    assert pack.triggers["new_audit_events"].window is not None


BROKEN = {
    "unknown_action.yaml": (
        """
        key: unknown_action
        label: L
        description: D
        list: {action: list_report}
        identity: "{$item.id}"
        changes: appeared
        """,
        (
            "triggers/unknown_action.yaml:4: at list.action 'list_report' is not an action of this "
            "pack; did you mean 'list_reports'?"
        ),
    ),
    "no_parent.yaml": (
        """
        key: no_parent
        label: L
        description: D
        list: {action: list_reports, inputs: {group_id: "{$parent.id}"}}
        identity: "{$item.id}"
        changes: appeared
        """,
        (
            "triggers/no_parent.yaml:4: at list.inputs.group_id '{$parent.id}' has no value here "
            "($parent is the item of list.each, which this trigger has not)"
        ),
    ),
    "not_an_input.yaml": (
        """
        key: not_an_input
        label: L
        description: D
        list: {action: list_reports, inputs: {workspace: x}}
        identity: "{$item.id}"
        changes: appeared
        """,
        (
            "triggers/not_an_input.yaml:4: at list.inputs.workspace 'workspace' is not an input of "
            "'list_reports'"
        ),
    ),
    "no_identity.yaml": (
        """
        key: no_identity
        label: L
        description: D
        list: {action: list_reports}
        order: {by: createdDate}
        """,
        (
            "triggers/no_identity.yaml:1: identity is required: what identifies an item, so that "
            "none is given twice"
        ),
    ),
    "window_of_numbers.yaml": (
        """
        key: window_of_numbers
        label: L
        description: D
        list: {action: list_activity_events, inputs: {start_date_time: "{$window.start}"}}
        identity: "{$item.Id}"
        order: {by: seq, type: number}
        window: {}
        """,
        "triggers/window_of_numbers.yaml:7: at window a window goes with an order of type time",
    ),
    "jobs_of_no_push.yaml": (
        """
        key: jobs_of_no_push
        label: L
        description: D
        list: {jobs: list_reports}
        identity: "{$item.job_id}"
        order: {by: ended_at}
        """,
        (
            "triggers/jobs_of_no_push.yaml:4: at list.jobs 'list_reports' is not a batch action: "
            "it makes no push jobs"
        ),
    ),
    "two_ways.yaml": (
        """
        key: two_ways
        label: L
        description: D
        list: {action: list_reports}
        identity: "{$item.id}"
        changes: appeared
        order: {by: id}
        """,
        (
            "triggers/two_ways.yaml:6: at changes give one of order, changes, next, not both order "
            "and changes"
        ),
    ),
}


def test_a_broken_trigger_is_named_with_its_file_and_line(tmp_path):
    root = copy_pack(tmp_path / "pack")
    for name, (text, _) in BROKEN.items():
        (root / "triggers" / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    problems = [str(p) for p in validate_pack(root)]
    for name, (_, expected) in BROKEN.items():
        found = [p for p in problems if p.startswith(f"triggers/{name}")]
        assert found == [expected], (name, problems)


def test_the_keys_of_an_event_template_are_literal_text(tmp_path):
    # Only an event's values are rendered: braces in a key are kept as written, so the checker
    # does not read them as a placeholder that names nothing.
    root = copy_pack(tmp_path / "pack")
    text = """
        key: literal_keys
        label: L
        description: D
        list: {action: list_reports}
        identity: "{$item.id}"
        changes: appeared
        event: {"{report}": "{$item.id}", name: "{$item.name}"}
        """
    (root / "triggers" / "literal_keys.yaml").write_text(
        textwrap.dedent(text).lstrip(), encoding="utf-8"
    )
    assert [str(p) for p in validate_pack(root)] == []


# -- the poll request ------------------------------------------------------------------------


def test_an_unknown_trigger_is_refused_with_the_nearest_one(pack):
    response, code = poll(pack, trigger="refresh_fail", subscription="s")
    assert code == 2
    assert response["trigger"] == "refresh_fail"
    assert response["error"]["type"] == "unknown_action"
    assert response["error"]["details"] == [
        {"field": "trigger", "message": "did you mean 'refresh_failed'?"}
    ]


@pytest.mark.parametrize(
    ("request_fields", "field", "message"),
    [
        ({"trigger": "refresh_failed"}, "subscription", "must be the subscription's id"),
        ({"trigger": "refresh_failed", "subscription": ""}, "subscription", "must be"),
        ({"trigger": "refresh_failed", "subscription": "s", "cursor": 3}, "cursor", "must be"),
        (
            {"trigger": "refresh_failed", "subscription": "s", "action": "list_groups"},
            "action",
            "cannot go with trigger",
        ),
        ({"subscription": "s", "action": "list_groups"}, "trigger", "must be the name"),
    ],
)
def test_a_poll_of_the_wrong_shape_is_refused_naming_the_field(
    pack, request_fields, field, message
):
    response, code = poll(pack, **request_fields)
    assert code == 2
    assert response["error"]["type"] == "invalid_request"
    [detail] = [d for d in response["error"]["details"] if d["field"] == field]
    assert detail["message"].startswith(message)


def test_inputs_are_checked_before_anything_is_sent(pack):
    bad = {"group_id": "Sales Analytics", "max_events": 0, "nope": 1}
    response, code = poll(pack, trigger="refresh_failed", subscription="s", inputs=bad)
    assert code == 2
    assert response["error"]["type"] == "invalid_input"
    assert sorted(d["field"] for d in response["error"]["details"]) == [
        "group_id",
        "max_events",
        "nope",
    ]


def test_since_must_be_a_time_and_a_cursor_one_of_the_subscription(pack):
    inputs = {"group_id": SALES, "since": "last tuesday"}
    response, _ = poll(pack, trigger="refresh_failed", subscription="s", inputs=inputs)
    assert response["error"]["details"] == [
        {"field": "since", "message": "must be an ISO 8601 date-time such as 2024-05-01T00:00:00Z"}
    ]
    response, code = poll(
        pack, trigger="refresh_failed", subscription="s", inputs={"group_id": SALES}, cursor="c1"
    )
    assert code == 2
    assert response["error"]["details"] == [
        {"field": "cursor", "message": "is not a recent position"}
    ]
    assert response["meta"]["requests"] == 0  # refused before the listing


# -- what a designer sees ------------------------------------------------------------------


def test_describe_lists_triggers_with_their_inputs_and_interval(pack):
    catalog = describe(pack)
    entry = next(t for t in catalog["triggers"] if t["key"] == "refresh_failed")
    assert entry["label"] == "When a Dataset Refresh Fails"
    assert entry["interval_s"] == 300
    assert list(entry["inputs"]["properties"])[:4] == [
        "group_id",
        "dataset_id",
        "since",
        "max_events",
    ]
    assert entry["inputs"]["properties"]["max_events"]["default"] == 100
    assert entry["inputs"]["properties"]["timeout"]["x-group"] == "advanced"
    changes = next(t for t in catalog["triggers"] if t["key"] == "report_published")
    assert "since" not in changes["inputs"]["properties"]  # it follows what is listed now


def test_docs_have_a_section_per_trigger(pack):
    text = docs_markdown(pack)
    section = text.split("\n## Triggers\n")[1]
    assert "### When a Report Is Deleted" in section
    assert "`report_deleted` · polled every 300 s" in section
    one = trigger_markdown(pack.triggers["push_job_finished"])
    assert one.startswith("# When a Push of Rows Finishes\n")
    assert "polled every 60 s" in one


@pytest.mark.slow
def test_a_plain_call_loads_nothing_of_triggers(tmp_path):
    script = (
        "import json, sys\n"
        "from connectorkit import invoke\n"
        "invoke({'action': 'list_groups', 'inputs': {'top': 1}, 'connection': "
        + json.dumps(CONNECTION)
        + "})\n"
        "print(json.dumps(sorted(m for m in sys.modules if 'trigger' in m or m in "
        "('connectorkit.call._poll', 'connectorkit.state._subscriptions'))))\n"
    )
    env = {"CONNECTORKIT_CACHE_DIR": str(tmp_path), "CONNECTORKIT_STATE": "memory://"}
    for _ in range(2):  # the second with the pack's cache filled, as every later call
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env={**__import__("os").environ, **env},
        )
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_a_push_still_running_or_a_job_of_another_action_is_no_finished_push(pack):
    runner = Runner(state_url="memory://")
    at = 1_700_000_000.0
    try:
        ledger = runner.jobs
        ledger.open("load-1", {"action": "load_rows_into_table", "inputs": {}, "created": at})
        ledger.ended("load-1", {"status": "committed", "at": at + 5})
        ledger.open("running", {"action": "create_rows", "inputs": {}, "created": at})
        ledger.open("done", {"action": "create_rows", "inputs": {}, "created": at})
        ending = {"state": "done", "rows": 2, "committed": 2, "batches": 1, "at": at + 9}
        ledger.ended("done", ending)
        body = {
            "connection": CONNECTION,
            "trigger": "push_job_finished",
            "subscription": "s",
            "inputs": {"since": "2000-01-01T00:00:00Z"},
        }
        response, code = respond(pack, runner, json.dumps(body))
    finally:
        runner.close()
    assert code == 0, response
    assert [e["data"]["job_id"] for e in response["result"]["events"]] == ["done"], response
