"""`connectorkit emulator --save-connections`: stored connections that `run` and `check` name.

Real processes throughout: the emulator command, then `run` and `check` from other folders,
sharing one SQLite state file.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

COMMAND = str(Path(sys.executable).parent / "connectorkit")
ENV = {
    **{
        k: v
        for k, v in os.environ.items()
        if k not in {"CONNECTORKIT_PACK", "CONNECTORKIT_STATE", "CONNECTORKIT_CONNECTION"}
    },
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "NO_COLOR": "1",
}
SAVED = "connectorkit: saved as stored connections 'emulator' and 'emulator-sp' in "


def ck(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**ENV, **(env or {})},
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


class Emulator:
    """The command in a subprocess, saving its connections to ``url``; lines read on threads."""

    def __init__(self, url: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [COMMAND, "emulator", "--port", "0", "--save-connections", "--state", url, "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=cwd,
        )
        self._out: queue.Queue[str] = queue.Queue()
        self._err: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self._out),
                (self.process.stderr, self._err),
            )
        ]
        for reader in self._readers:
            reader.start()
        try:
            self.urls = json.loads(self._line(self._out, "URLs"))
            self.notes = [self._line(self._err, "notes") for _ in range(4)]
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _read(stream, lines: queue.Queue[str]) -> None:
        for line in stream:
            lines.put(line)

    @staticmethod
    def _line(lines: queue.Queue[str], what: str) -> str:
        try:
            return lines.get(timeout=60)
        except queue.Empty:
            raise AssertionError(f"the emulator printed no {what} within 60 s") from None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def test_saved_connections_work_by_name_from_any_folder(tmp_path):
    store = tmp_path / "state" / "store.sqlite3"
    url = f"sqlite:///{store}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    emulator = Emulator(url, tmp_path)
    urls, notes = emulator.urls, emulator.notes
    try:
        assert notes[0].startswith("connectorkit: the service principal's connection")
        assert notes[2] == f"{SAVED}{url}; from any folder, try:\n"
        assert notes[3] == f"  connectorkit run list_groups --connection emulator --state {url}\n"
        assert not list(tmp_path.glob("*.json"))  # stored, not written as files

        listed = ck("run", "list_groups", "-c", "emulator-sp", "--state", url, cwd=elsewhere)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[-1] == "2 items"
        # The user's connection, by name, through the environment's store instead of --state.
        named = {"CONNECTORKIT_STATE": url}
        checked = ck("check", "-c", "emulator", cwd=elsewhere, env=named)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        lines = checked.stdout.splitlines()
        assert lines[0] == "checking connection 'oauth2' from stored connection 'emulator'"
        # The sign-in's token, kept with the stored connection, and accepted by the service.
        assert any(
            line.startswith("  ✓ token: the token of stored connection 'emulator' was accepted")
            for line in lines
        ), lines
        assert lines[-1] == "the connection works"
        shown = ck("connections", "--state", url, "show", "emulator-sp", "--json", cwd=elsewhere)
        assert json.loads(shown.stdout)["result"]["values"]["base_url"] == urls["base_url"]

        missing = ck("run", "list_groups", "-c", "nobody", "--state", url, cwd=elsewhere)
        assert missing.returncode == 2
        assert missing.stdout == ""
        assert "error (invalid_connection): there is no stored connection 'nobody'" in (
            missing.stderr
        )
        assert "connection.name: no such stored connection" in missing.stderr
        assert b"demo-secret" not in store.read_bytes()  # secrets are sealed at rest
    finally:
        emulator.stop()

    # A second start (another port) replaces both: the names follow the running emulator.
    again = Emulator(url, tmp_path)
    try:
        assert again.urls["base_url"] != urls["base_url"]
        for name in ("emulator", "emulator-sp"):
            done = ck("run", "list_groups", "-c", name, "--state", url, cwd=elsewhere)
            assert done.returncode == 0, done.stderr
            assert done.stdout.splitlines()[-1] == "2 items"
    finally:
        again.stop()


def test_the_emulator_refuses_store_options_it_cannot_honour(tmp_path):
    alone = ck("emulator", "--state", f"sqlite:///{tmp_path / 's.sqlite3'}", cwd=tmp_path)
    assert alone.returncode == 2
    assert alone.stderr == (
        "connectorkit emulator: --state names the store --save-connections saves to: "
        "add --save-connections\n"
    )
    memory = ck("emulator", "--save-connections", "--state", "memory://", cwd=tmp_path)
    assert memory.returncode == 2
    assert "a memory:// state store lives in this process only" in memory.stderr
    bad = ck("emulator", "--save-connections", "--state", "ftp://x", cwd=tmp_path)
    assert bad.returncode == 2
    assert "unknown state URL 'ftp://x'" in bad.stderr
    empty = ck("emulator", "--save-connections", "--state", cwd=tmp_path)
    assert empty.returncode == 2
    assert empty.stderr == "connectorkit emulator: --state needs a value (--state URL)\n"
    assert not (tmp_path / "s.sqlite3").exists()


def test_an_emulator_name_missing_from_the_store_says_how_to_save_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    done = ck("check", "-c", "emulator-sp", "--state", url, cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "there is no stored connection 'emulator-sp' in the state store (sqlite:///" in done.stdout
    )
    assert "save one with `connectorkit emulator --save-connections` (it saves 'emulator-sp')" in (
        done.stdout
    )


def test_emulator_help_lists_connectorkits_own_options(tmp_path):
    shown = ck("emulator", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert "--save-connections      save them as stored connections 'emulator'" in shown.stdout
    assert "--state URL" in shown.stdout
    assert "--connections-dir DIR" in shown.stdout
