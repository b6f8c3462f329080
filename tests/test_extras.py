"""Optional parts are extras: the base install holds none of them, and a call never loads them."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tomllib

from conftest import ROOT
from connectorkit.cli._progress import Progress

OPTIONAL = {"redis": "redis", "ntlm": "pyspnego", "completion": "argcomplete", "progress": "tqdm"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[ ]", requirement, maxsplit=1)[0].strip().lower()


def test_each_optional_part_is_an_extra_and_not_a_base_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    for extra, package in OPTIONAL.items():
        assert package not in base, f"{package} is optional: the {extra} extra, not a dependency"
        assert {_name(r) for r in extras[extra]} == {package}
    assert set(OPTIONAL) | {"studio"} <= set(extras["all"][0].split("[")[1].rstrip("]").split(","))


def test_the_command_and_a_stored_state_load_no_optional_part():
    script = (
        "import sys\n"
        "from connectorkit.cli import main\n"
        "from connectorkit.state import open_state\n"
        "open_state('memory://').close()\n"
        "loaded = sorted({'redis', 'spnego', 'argcomplete', 'tqdm'} & set(sys.modules))\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_progress_extra_a_terminal_gets_plain_lines(monkeypatch):
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "tqdm" else real(name, *a)
    )
    shown = io.StringIO()
    progress = Progress(3, label="create_rows", unit="batches", stream=shown, live=True)
    progress.advance()
    progress.close()
    assert shown.getvalue() == "connectorkit: create_rows: 1/3 batches\n"
