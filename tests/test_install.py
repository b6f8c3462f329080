"""Install hints: a missing extra names a command that works for this copy, and exits 2.

connectorkit is installed from a clone or a Git URL, never by name from an index: every hint
repeats the source the install recorded (PEP 610's direct_url.json), with the tool that manages
the environment.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from connectorkit.core._install import InstallSource, extra_command, install_source
from connectorkit.studio import main as studio_main


def test_a_clone_installed_editable_is_named_by_its_folder():
    source = install_source(
        {"url": "file:///home/ann/connectorkit", "dir_info": {"editable": True}}
    )
    assert source == InstallSource("/home/ann/connectorkit[{extra}]", editable=True)
    command = extra_command(
        "studio", source=source, prefix="/home/ann/connectorkit/.venv",
        executable="/home/ann/connectorkit/.venv/bin/python", has_pip=True,
    )  # fmt: skip
    assert command == (
        "/home/ann/connectorkit/.venv/bin/python -m pip install -e '/home/ann/connectorkit[studio]'"
    )


def test_a_git_url_is_repeated_with_its_revision():
    source = install_source(
        {
            "url": "https://git.example.org/team/connectorkit.git",
            "vcs_info": {"vcs": "git", "commit_id": "abc", "requested_revision": "v0.1"},
        }
    )
    assert source is not None
    assert source.requirement == (
        "connectorkit[{extra}] @ git+https://git.example.org/team/connectorkit.git@v0.1"
    )
    pipx = extra_command(
        "emulator", source=source, prefix="/home/ann/.local/pipx/venvs/connectorkit"
    )
    assert pipx == (
        "pipx install --force "
        "'connectorkit[emulator] @ git+https://git.example.org/team/connectorkit.git@v0.1'"
    )
    uv = extra_command(
        "emulator", source=source, prefix="/home/ann/.local/share/uv/tools/connectorkit"
    )
    assert uv.startswith("uv tool install --force 'connectorkit[emulator] @ git+https://")


def test_an_environment_without_pip_is_given_uv_pip():
    source = InstallSource("/src/connectorkit[{extra}]")
    command = extra_command(
        "testing", source=source, prefix="/x/.venv", executable="/x/.venv/bin/python", has_pip=False
    )
    assert command == "uv pip install --python /x/.venv/bin/python '/src/connectorkit[testing]'"


def test_nothing_recorded_falls_back_to_the_clone_form():
    assert install_source({}) is None
    assert install_source({"url": "file:///tmp/connectorkit-0.1.0-py3-none-any.whl",
                           "archive_info": {}}).requirement == (  # type: ignore[union-attr]
        "connectorkit[{extra}] @ file:///tmp/connectorkit-0.1.0-py3-none-any.whl"
    )  # fmt: skip


def test_this_checkout_names_itself():
    # The test environment is an editable install of this very folder (scripts/test).
    command = extra_command("studio")
    assert "pip install" in command
    assert f"{ROOT}[studio]" in command
    assert "'connectorkit[studio]'" not in command


@pytest.mark.e2e
def test_emulator_without_its_extra_is_a_usage_error_naming_the_command(tmp_path):
    # A stand-in 'uvicorn' that cannot be found: the command must say so, not crash.
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.util\n"
        "_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = (\n"
        "    lambda name, *a: None if name == 'uvicorn' else _find(name, *a)\n"
        ")\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "connectorkit", "emulator", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "connectorkit: the emulator needs the optional extra 'emulator' (uvicorn is not "
        f"installed); install it with: {extra_command('emulator')}\n"
    )


def test_studio_without_its_server_extra_is_a_usage_error(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_uvicorn(name, *args, **kwargs):
        if name == "uvicorn":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    assert studio_main([]) == 2
    err = capsys.readouterr().err
    assert "needs the optional extra 'studio'" in err
    assert f"{ROOT}[studio]'" in err
