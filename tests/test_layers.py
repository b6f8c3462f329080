"""The runtime's shape: layered imports, no service named in generic code, complete ``__all__``."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime" / "connectorkit"
# Words that would mean a service's behaviour leaked into the generic runtime.
SERVICE_WORDS = re.compile(
    r"power ?bi|powerbi|TokenExpired|microsoft|windows\.net|\bentra\b|azure|analysis\.",
    re.IGNORECASE,
)
MODULES = sorted(p.stem for p in RUNTIME.glob("_*.py") if not p.stem.startswith("__"))


def test_the_generic_runtime_names_no_service():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(RUNTIME.rglob("*.py"))
        # The command that starts an emulator names the bundled pack's as its default.
        if path.relative_to(RUNTIME).as_posix() != "_cli/commands/emulator.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if SERVICE_WORDS.search(line)
    ]
    assert found == []


def test_the_import_layers_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed")
    run = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "runtime layers KEPT" in run.stdout


@pytest.mark.parametrize("name", MODULES)
def test_every_all_is_complete_and_true(name):
    module = importlib.import_module(f"connectorkit.{name}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert all(hasattr(module, n) for n in exported)
    public = {
        n
        for n, value in vars(module).items()
        if not n.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }
    assert public <= set(exported), public - set(exported)
