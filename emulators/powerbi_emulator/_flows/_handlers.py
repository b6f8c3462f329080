"""The flows' handlers, by swagger operation id without its `InGroup` suffix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from powerbi_emulator._flows import (
    _activity,
    _exports,
    _imports,
    _pipelines,
    _refreshes,
    _scanner,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from powerbi_emulator._context import ApiContext
    from powerbi_emulator._http import HttpResponse

__all__ = ["HANDLERS"]

HANDLERS: dict[str, Callable[[ApiContext], Awaitable[HttpResponse]]] = {
    **_imports.HANDLERS,
    **_refreshes.HANDLERS,
    **_exports.HANDLERS,
    **_scanner.HANDLERS,
    **_activity.HANDLERS,
    **_pipelines.HANDLERS,
}
