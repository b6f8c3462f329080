"""The README's "first five minutes" is replayed: every command, every line it shows.

The emulator block starts the emulator as written (on a free port instead of 8642); the session
block runs each ``$ command`` with bash in the same folder, 100 columns wide, stdout and stderr
together as a terminal shows them, and compares what it printed with the README line by line.
``…`` in the README stands for anything (a time, a duration).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="the emulator needs the connectorkit[emulator] extra")

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
README_PORT = "8642"


def transcript(name: str) -> list[tuple[str, list[str]]]:
    """The ``$ command`` lines of a marked console block, each with the lines it shows."""
    text = README.read_text(encoding="utf-8")
    block = text.split(f"<!-- transcript: {name} -->\n```console\n", 1)[1].split("\n```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def matches(expected: str, shown: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("…"))
    return re.fullmatch(pattern, shown) is not None


def assert_shows(command: str, expected: list[str], shown: list[str]) -> None:
    same = len(expected) == len(shown) and all(map(matches, expected, shown))
    assert same, (
        f"$ {command}\nREADME says:\n" + "\n".join(expected) + "\nit shows:\n" + "\n".join(shown)
    )


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_the_first_five_minutes_are_what_the_readme_shows(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"CONNECTORKIT_PACK", "NO_COLOR"}},
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "100",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    [(start, announced)] = transcript("emulator")
    start = start.replace(README_PORT, port)
    with subprocess.Popen(
        shlex.split(start),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as emulator:
        try:
            assert emulator.stdout is not None
            shown = [emulator.stdout.readline().rstrip("\n") for _ in announced]
            assert_shows(start, [e.replace(README_PORT, port) for e in announced], shown)
            for command, expected in transcript("session"):
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert_shows(command, expected, done.stdout.splitlines())
        finally:
            emulator.terminate()
