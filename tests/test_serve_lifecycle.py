"""The ``serve`` worker and the command line as a platform runs them: real processes, real pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import assert_envelope

COMMAND = [sys.executable, "-m", "connectorkit"]
# Lines that once killed the writer or the whole worker, each followed by a good one.
POISON = [
    '{"id":"\\ud800","action":"x"}',
    '{"id":1e400,"action":"x"}',
    '{"id":"p3","action":"raw_request","inputs":{"data":{"a":"\\udc00"}}}',
    '{"id":"p4","action":"\\udfff"}',
    "\udcff not even json",
    '{"id":[1],"action":"x"}',
    "[" * 100_000,
]


def serve(lines: list[str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    data = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    return subprocess.run(
        [*COMMAND, "serve", *args], input=data, capture_output=True, timeout=timeout, check=False
    )


def strict_lines(stdout: bytes) -> list[dict]:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} on stdout")

    return [json.loads(line, parse_constant=refuse) for line in stdout.decode().splitlines()]


def test_the_issue_example_is_answered_line_by_line():
    done = serve(['{"id":"\\ud800","action":"x"}', '{"id":"second","action":"x"}'])
    assert done.returncode == 0, done.stderr
    first, second = strict_lines(done.stdout)
    assert first["error"]["type"] == "invalid_request"
    assert second["id"] == "second"
    assert second["error"]["type"] == "unknown_action"


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_poisoned_lines_never_stall_the_others_and_every_line_is_answered_in_order(concurrency):
    lines: list[str] = []
    for number in range(40):
        lines.append(POISON[number % len(POISON)])
        lines.append(json.dumps({"id": f"good-{number}", "action": "nope"}))
    done = serve(lines, "--concurrency", concurrency)
    assert done.returncode == 0, done.stderr
    answers = strict_lines(done.stdout)
    assert len(answers) == len(lines)
    for answer in answers:
        assert_envelope(answer)
        assert answer["error"]["type"] != "internal_error"
    assert [a["id"] for a in answers[1::2]] == [f"good-{n}" for n in range(40)]
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_serve_exits_promptly_and_non_zero_when_its_reader_goes_away(concurrency):
    worker = subprocess.Popen(
        [*COMMAND, "serve", "--concurrency", concurrency],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert worker.stdin is not None
    assert worker.stdout is not None
    worker.stdin.write(b'{"id":1,"action":"nope"}\n')
    worker.stdin.flush()
    assert json.loads(worker.stdout.readline())["id"] == 1
    worker.stdout.close()  # the reader goes away; stdin stays open and idle
    started = time.monotonic()
    try:
        code = worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stdin.close()
        assert worker.stderr is not None
        worker.stderr.close()
    assert time.monotonic() - started < 5
    assert code == 141


PRODUCED = '{"action":"nope"}'


def test_serve_exits_when_the_reader_goes_away_while_requests_keep_coming():
    # The shell's `producer | connectorkit serve | head -1`.
    script = (
        f"yes {PRODUCED!r} | {sys.executable} -m connectorkit serve | head -1 >/dev/null;"
        " echo ${PIPESTATUS[1]}"
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, timeout=30, check=False, env=os.environ.copy()
    )
    assert done.stdout.decode().strip() == "141", done.stderr


def test_invoke_whose_reader_is_gone_exits_non_zero_without_a_traceback():
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "wb") as closed:
        done = subprocess.run(
            [*COMMAND, "invoke"],
            input=b'{"action":"nope"}',
            stdout=closed,
            stderr=subprocess.PIPE,
            timeout=30,
            check=False,
        )
    assert done.returncode == 141
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["serve", "--concurrency", "0"], "0 is not 1 or more"),
        (["serve", "--concurrency", "-3"], "is not 1 or more"),
        (["describe", "--pack", "/nonexistent"], "/nonexistent: no such folder"),
        (["docs", "--pack", "/nonexistent"], "/nonexistent: no such folder"),
        (["validate", "x/connector.yaml"], "x/connector.yaml: no such folder"),
    ],
)
def test_command_line_mistakes_are_usage_errors_not_defects(args, said, tmp_path):
    done = subprocess.run(
        [*COMMAND, *args], capture_output=True, timeout=30, check=False, cwd=tmp_path, stdin=None
    )
    assert done.returncode == 2
    assert said in done.stderr.decode()
    assert "Errno" not in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_validate_accepts_the_path_of_a_connector_yaml(tmp_path):
    from conftest import PACK  # noqa: PLC0415

    done = subprocess.run(
        [*COMMAND, "validate", str(PACK / "connector.yaml")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    assert "Errno" not in done.stdout.decode() + done.stderr.decode()


def test_describe_of_a_folder_that_is_no_pack_exits_2(tmp_path):
    args = [*COMMAND, "describe", "--pack", str(tmp_path)]
    done = subprocess.run(args, capture_output=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "not an action pack" in done.stderr.decode()


@pytest.mark.parametrize(
    ("command", "where", "said", "code"),
    [
        ("invoke", "/nonexistent", "no such folder", 2),
        ("invoke", "TMP", "no connector.yaml there", 2),
        ("serve", "/nonexistent", "no such folder", 0),
    ],
)
def test_invoke_naming_no_pack_is_the_callers_error_in_json(command, where, said, code, tmp_path):
    folder = str(tmp_path) if where == "TMP" else where
    done = subprocess.run(
        [*COMMAND, command, "--pack", folder],
        input=b'{"id": "r1", "action": "list_groups"}\n',
        capture_output=True,
        timeout=30,
        check=False,
    )
    # serve answers the line and ends at EOF with 0; invoke's exit code is the envelope's.
    assert done.returncode == code
    envelope = json.loads(done.stdout)
    assert envelope["id"] == "r1"
    assert envelope["error"]["type"] == "invalid_request"
    assert envelope["error"]["message"] == f"--pack {folder}: {said}: not an action pack"
    assert envelope["error"]["details"] == [
        {"field": "--pack", "message": f"{said}: not an action pack"}
    ]
