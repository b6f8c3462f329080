"""Load: long_running, pages, files, uploads and chunks become definitions; mistakes are named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connectorkit.core._errors import PackError
from connectorkit.pack._load import load_pack

JOBS = Path(__file__).parent / "data" / "jobs_pack"


@pytest.fixture(scope="module")
def jobs():
    return load_pack(JOBS)


@pytest.fixture
def jobs_dir(tmp_path):
    return Path(shutil.copytree(JOBS, tmp_path / "jobs"))


def problems(folder: Path) -> list[str]:
    with pytest.raises(PackError) as caught:
        load_pack(folder)
    return [f"{p.file.split('/')[-1]}:{p.path}: {p.message}" for p in caught.value.problems]


def test_a_long_running_action_is_loaded_with_its_polls_and_result(jobs):
    export = jobs.actions["export_report"]
    running = export.multistep.long_running
    assert running.started == frozenset({202})
    assert dict(running.keep) == {"export_id": "{$body.id}"}
    assert running.poll.path == "/reports/{report_id}/exports/{export_id}"
    assert running.status.outcome("Running") == "running"
    assert running.status.outcome("Succeeded") == "succeeded"
    assert running.status.outcome("Failed") == "failed"
    assert running.status.outcome("SomethingNew") == "running"
    assert (running.first_s, running.backoff, running.max_interval_s) == (2.0, 2.0, 10.0)
    assert (running.retry_after_min_s, running.retry_after_max_s) == (1.0, 30.0)
    assert running.result.path.endswith("/file")
    assert running.timeout_s == 3600
    assert export.multistep.file_result
    assert export.result.encoding == "base64"


def test_actions_get_the_call_inputs_of_what_they_declare(jobs):
    keys = {a.key: [i.key for i in a.inputs] for a in jobs.actions.values()}
    assert keys["export_report"][:4] == ["report_id", "format", "wait", "save_to"]
    assert keys["list_events"][:5] == ["start", "all_pages", "max_items", "continuation", "stream"]
    assert "wait" not in keys["list_events"]
    assert keys["get_scan"] == ["scan_id", "timeout", "max_retry_count"]
    # The declared default of `wait` and `all_pages` is the pack's.
    assert jobs.actions["start_job"].input("wait").default is False
    assert jobs.actions["export_report"].input("wait").default is True
    assert jobs.actions["list_events"].input("all_pages").default is True
    assert jobs.actions["list_things"].input("all_pages").default is False


def test_a_plain_action_has_no_multistep_part(jobs):
    assert jobs.actions["get_scan"].multistep is None


def test_pages_upload_and_chunks_are_loaded(jobs):
    assert jobs.actions["list_things"].multistep.pages.next_url == "@odata.nextLink"
    token = jobs.actions["list_tokens"].multistep.pages.next_token
    assert (token.at, token.query) == ("next", "token")
    offset = jobs.actions["list_offsets"].multistep.pages.offset
    assert (offset.query, offset.size_query, offset.size) == ("$skip", "$top", 3)
    upload = jobs.actions["import_file"].multistep.upload
    assert (upload.input, upload.above_bytes, upload.block_size) == ("file", 1000, 400)
    assert upload.location.action == "get_upload_location"
    assert upload.commit.text == "<BlockList>{$blocks}</BlockList>"
    chunks = jobs.actions["start_scan"].multistep.chunks
    assert (chunks.input, chunks.size, chunks.at_once) == ("ids", 2, 2)
    assert chunks.gather.step.action == "list_changed"
    assert chunks.merge == ("items", "problems")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_template_naming_nothing_known_is_refused(jobs_dir):
    edit(jobs_dir / "actions/export_report.yaml", "exports/{export_id}\n", "exports/{exprt_id}\n")
    assert problems(jobs_dir) == [
        (
            "export_report.yaml:long_running.poll.path: '{exprt_id}' names no input, kept value or "
            "response part; did you mean '{export_id}'?"
        )
    ]


def test_a_step_naming_another_action_must_name_one(jobs_dir):
    edit(jobs_dir / "actions/start_scan.yaml", "action: get_scan,", "action: get_scna,")
    assert problems(jobs_dir) == [
        (
            "start_scan.yaml:long_running.poll.action: 'get_scna' is not an action of this pack; "
            "did you mean 'get_scan'?"
        )
    ]


def test_an_upload_needs_a_file_input_and_chunks_a_list(jobs_dir):
    edit(jobs_dir / "actions/import_file.yaml", "type: file,", "type: string,")
    edit(
        jobs_dir / "actions/start_scan.yaml", "type: array, items: { type: string }", "type: string"
    )
    found = problems(jobs_dir)
    assert (
        "import_file.yaml:upload.input: 'file' must be a file input, but it is of type string"
        in found
    )
    assert (
        "start_scan.yaml:chunks.input: 'ids' must be an array input, but it is of type string"
        in found
    )


def test_an_input_the_runtime_reads_keeps_its_type(jobs_dir):
    edit(
        jobs_dir / "actions/list_things.yaml",
        "request:",
        "inputs:\n  - { key: max_items, label: Max, type: string, comments: x }\nrequest:",
    )
    assert problems(jobs_dir) == [
        (
            "list_things.yaml:inputs[0].type: 'max_items' is an input the runtime reads by name "
            "(integer): a redeclaration must keep its type"
        )
    ]


def test_pages_say_one_way_to_the_next_page(jobs_dir):
    edit(
        jobs_dir / "actions/list_things.yaml",
        "  items: value\n",
        "  items: value\n  next_token: { at: a, query: b }\n",
    )
    found = problems(jobs_dir)
    assert len(found) == 1
    assert found[0].startswith("list_things.yaml:pages:")


def test_a_request_block_is_a_path_a_url_or_an_action(jobs_dir):
    edit(
        jobs_dir / "actions/start_job.yaml", 'url: "{location}"', 'url: "{location}"\n    path: /x'
    )
    found = problems(jobs_dir)
    assert len(found) == 1
    assert found[0].startswith("start_job.yaml:long_running.poll:")


def test_a_result_template_may_name_kept_values_and_response_parts(jobs):
    template = jobs.actions["import_file"].result.template
    assert template == {
        "import_id": "{import_id}",
        "report_id": "{$body.reports.0.id}",
        "state": "{$body.state}",
    }
