"""`scripts/demo.py`, the README's main command: a workflow through `connectorkit invoke`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"
STEPS = [
    "list_groups",
    "create_dataset",
    "create_rows",
    "list_tables",
    "list_datasets",
    "raw_request",
]


@pytest.mark.skipif(not DEMO.exists(), reason="scripts/demo.py is not in this tree")
def test_demo_runs_every_step_and_shows_no_secret(tmp_path):
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    out = result.stdout
    for number, action in enumerate(STEPS, start=1):
        assert f"Step {number}: " in out
        assert f"[{action}]" in out
    assert out.count('"ok": true') == len(STEPS)
    assert "connectorkit demo / Sales: 36 rows" in out
    assert '"client_secret": "***"' in out
    for secret in ("demo-secret", "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIs", "emu-rt."):
        assert secret not in out + result.stderr
