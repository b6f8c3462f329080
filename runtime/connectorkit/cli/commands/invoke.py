"""``connectorkit invoke``: one JSON request on stdin, one JSON response on stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectorkit.cli._protocol_command import add_protocol_command

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``invoke``."""
    add_protocol_command(
        registry,
        "invoke",
        "read one JSON request from stdin, write one JSON response to stdout",
        examples=[
            "connectorkit invoke < request.json",
            """echo '{"action": "list_groups", "connection": {...}}' | connectorkit invoke""",
        ],
    )
