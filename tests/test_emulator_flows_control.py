"""How the long-running flows are set: the control API, `--flows`, and `running(flows=...)`."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from flows_helpers import emulator_process
from powerbi_emulator import running
from powerbi_emulator._flows._settings import ExportSettings, FlowSettings


@pytest.fixture(scope="module")
def emu():
    with running() as handle:
        yield handle


def test_the_settings_are_read_changed_and_reset(emu):
    emu.reset()
    settings = emu.flows()["settings"]
    assert settings["exports"] == {
        "queued_seconds": 1.0, "seconds": 10.0, "poll_seconds": 5.0, "bytes": 0, "fail": 0,
        "fail_retry_after": None,
    }  # fmt: skip
    assert settings["scans"]["get_info_per_hour"] == 500
    assert settings["activity"]["per_hour"] == 200
    changed = emu.set_flows(exports={"seconds": 5400, "bytes": 209_715_200}, refreshes={"fail": 2})
    assert changed["settings"]["exports"]["seconds"] == 5400
    assert changed["settings"]["refreshes"]["fail"] == 2
    assert emu.flows()["settings"]["exports"]["poll_seconds"] == 5.0  # the rest as it was
    assert emu.state()["flows"]["settings"]["exports"]["bytes"] == 209_715_200
    emu.reset()
    assert emu.flows()["settings"] == settings


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ({"exprots": {"seconds": 1}}, "unknown flow(s) exprots"),
        ({"exports": {"secs": 1}}, "unknown exports setting(s) secs"),
        ({"exports": {"seconds": -1}}, "exports.seconds must be a finite number >= 0"),
        ({"exports": {"seconds": "soon"}}, "exports.seconds must be a number"),
        ({"exports": {"fail": True}}, "exports.fail must be a whole number, not a boolean"),
        ({"exports": {"fail": 1.5}}, "exports.fail must be a whole number"),
        ({"exports": {"bytes": None}}, "exports.bytes must not be null"),
        ({"imports": {"error_code": ""}}, "imports.error_code must be a non-empty string"),
        ({"exports": 5}, "exports must be an object"),
        ({"exports": {"bytes": 5_000_000_000}}, "exports.bytes must be at most 4000000000"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(emu, patch, words):
    response = httpx.post(f"{emu.url}/_emulator/flows", json=patch, timeout=10)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]


def test_settings_given_at_start():
    settings = FlowSettings(exports=ExportSettings(seconds=60.0))
    with running(flows=settings) as emu:
        assert emu.flows()["settings"]["exports"]["seconds"] == 60.0
        emu.set_flows(exports={"seconds": 1})
        emu.reset()
        assert emu.flows()["settings"]["exports"]["seconds"] == 60.0  # back to the start's


def test_the_flows_option_of_the_command():
    with emulator_process("--flows", '{"activity": {"events_per_day": 1000000}}') as (_, urls):
        flows = httpx.get(f"{urls['url']}/_emulator/flows", timeout=10).json()
        assert flows["settings"]["activity"]["events_per_day"] == 1_000_000


@pytest.mark.parametrize(
    ("value", "words"),
    [("{", "--flows is not JSON"), ("[]", "--flows must be a JSON object"),
     ('{"exports": {"bytes": -1}}', "--flows: exports.bytes must be >= 0")],
)  # fmt: skip
def test_a_bad_flows_option_exits_2_naming_it(value, words):
    done = subprocess.run(
        [sys.executable, "-m", "powerbi_emulator", "--flows", value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert words in done.stderr
