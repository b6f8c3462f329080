"""docs/write-and-test-a-pack.md, followed as written from an empty folder.

Every block marked ``<!-- follow: … -->`` runs in one shell, in order: the install step exactly
as printed (a new virtual environment, ``pip install '/path/to/connectorkit[testing]'`` with this
clone as the path), the scaffold, the hand-written action, the import and the test; then the
page's "when it goes red" changes must fail with the lines it shows. The only stand-in is the
OpenAPI document the page imports from the reader's Downloads folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "write-and-test-a-pack.md"
SPEC = ROOT / "tests" / "data" / "weather-api.yaml"


def blocks() -> dict[str, str]:
    """The marked blocks of the page: name -> the block's text."""
    text = PAGE.read_text(encoding="utf-8")
    found = re.findall(r"<!-- follow: (\S+) -->\n```\w*\n(.*?)\n```", text, flags=re.DOTALL)
    return dict(found)


def test_the_page_marks_every_step():
    assert list(blocks()) == [
        "install",
        "new-pack",
        "new-action",
        "actions/get_forecast.yaml",
        "import",
        "tests/test_forecast.py",
    ]
    assert "pip install '/path/to/connectorkit[testing]'" in blocks()["install"]


def shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment: nothing of this checkout's virtual environment leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env["HOME"] = str(cwd)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3 on the PATH")
def test_the_page_works_from_an_empty_folder(tmp_path):
    steps = blocks()
    (tmp_path / "Downloads").mkdir()
    shutil.copy(SPEC, tmp_path / "Downloads" / "weather-api.yaml")
    install = steps["install"].replace("/path/to/connectorkit", str(ROOT))
    forecast = steps["actions/get_forecast.yaml"]
    test_file = steps["tests/test_forecast.py"]
    script = f"""
{install}
echo "== new pack"
{steps["new-pack"]}
echo "== new action"
{steps["new-action"]}
cat > actions/get_forecast.yaml <<'YAML'
{forecast}
YAML
connectorkit validate .
echo "== import"
{steps["import"]}
cat > tests/test_forecast.py <<'PY'
{test_file}
PY
echo "== pytest"
pytest -q -p no:cacheprovider
"""
    done = shell(script, tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    assert re.search(r"== new pack\n.*\b6 passed\b", out, flags=re.DOTALL), out
    pack = tmp_path / "packs" / "weather"
    assert {p.name for p in (pack / "actions").glob("*.yaml")} == {
        "get_status.yaml", "get_forecast.yaml", "list_alerts.yaml", "create_alert.yaml",
    }  # fmt: skip
    assert "ok" in done.stderr
    assert re.search(r"== pytest\n.*\b\d+ passed\b", out, flags=re.DOTALL), out
    assert "failed" not in out.split("== pytest", 1)[1]

    # 6. When it goes red: the page's two changes, and the lines it shows.
    forecast_file = pack / "actions" / "get_forecast.yaml"
    forecast_file.write_text(
        forecast_file.read_text().replace("path: /forecasts/{city}", "path: /forecast/{city}")
    )
    alert_file = pack / "actions" / "create_alert.yaml"
    alert_file.write_text(
        alert_file.read_text().replace("    severity: '{severity}'", "    level: '{severity}'")
    )
    red = shell(". ../.venv/bin/activate && pytest -q -p no:cacheprovider -rf", pack)
    assert red.returncode == 1
    assert "FAILED connector.yaml::example/get_forecast/1" in red.stdout
    assert "path is /forecast/Lyon, the example says /forecasts/Lyon" in red.stdout
    assert "FAILED connector.yaml::openapi/create_alert/createAlert" in red.stdout
    assert "body: 'severity' is a required property" in red.stdout
