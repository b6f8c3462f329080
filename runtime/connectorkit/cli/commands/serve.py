"""``connectorkit serve``: a worker answering one JSON request per line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectorkit.cli._common import positive
from connectorkit.cli._protocol_command import add_protocol_command

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry


def register(registry: Registry) -> None:
    """Add ``serve``."""
    sub = add_protocol_command(
        registry,
        "serve",
        "a long-lived worker: one JSON request per line in, one response per line out",
        examples=["connectorkit serve --concurrency 8 < requests.jsonl > responses.jsonl"],
    )
    sub.add_argument(
        "--concurrency", type=positive, default=4, help="requests run at once (default 4)"
    )
