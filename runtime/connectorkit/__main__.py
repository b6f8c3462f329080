"""``python -m connectorkit``: the same as the ``connectorkit`` command."""

from __future__ import annotations

from connectorkit.cli import run

run()
