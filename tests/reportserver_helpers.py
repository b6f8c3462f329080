"""Starting the real Report Server emulator for tests, in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def reportserver(*args: str) -> Iterator[dict[str, Any]]:
    """``python -m reportserver_emulator --port 0 ARGS``; yields the URLs it announces."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reportserver_emulator", "--port", "0", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        yield json.loads(line)
    finally:
        process.terminate()
        process.communicate(timeout=10)
