"""connectorkit: declarative integration connectors, run over JSON on stdin/stdout.

The runtime is a short pipeline: :func:`load_pack` reads and checks a pack, ``bind`` joins an
action with the caller's inputs and a connection, ``run`` sends its requests. Platforms use the
``connectorkit`` command; Python callers can use :func:`invoke` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.core._errors import (
    AuthError,
    ConnectorError,
    HttpError,
    InternalError,
    InvalidConnection,
    InvalidInput,
    InvalidRequest,
    NetworkError,
    PackError,
    PartialFailure,
    Problem,
    RateLimited,
    TimeoutError,
    UnknownAction,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from connectorkit.call._run import Runner
    from connectorkit.pack._definitions import ActionDef, ConnectionDef, Pack
    from connectorkit.pack._files import default_pack_root
    from connectorkit.pack._load import load_pack
    from connectorkit.types._input import InputDef

__all__ = [
    "ActionDef",
    "AuthError",
    "ConnectionDef",
    "ConnectorError",
    "HttpError",
    "InputDef",
    "InternalError",
    "InvalidConnection",
    "InvalidInput",
    "InvalidRequest",
    "NetworkError",
    "Pack",
    "PackError",
    "PartialFailure",
    "Problem",
    "RateLimited",
    "Runner",
    "TimeoutError",
    "UnknownAction",
    "__version__",
    "default_pack_root",
    "invoke",
    "load_pack",
]

# Heavier names load on first use, so `connectorkit describe` never imports httpx.
_LAZY = {
    "ActionDef": "connectorkit.pack._definitions",
    "ConnectionDef": "connectorkit.pack._definitions",
    "InputDef": "connectorkit.types._input",
    "Pack": "connectorkit.pack._definitions",
    "default_pack_root": "connectorkit.pack._files",
    "load_pack": "connectorkit.pack._load",
    "Runner": "connectorkit.call._run",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from connectorkit.core._version import version  # noqa: PLC0415

        return version()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'connectorkit' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)


def invoke(
    request: dict[str, Any],
    *,
    pack: Pack | None = None,
    runner: Runner | None = None,
    watch: Callable[[Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run one request (the contract's JSON, as a dict) and return the response envelope.

    ``watch`` is told how a long call goes (an operation's polls, pages read).
    """
    from connectorkit.call._entry import call  # noqa: PLC0415
    from connectorkit.call._run import Runner  # noqa: PLC0415
    from connectorkit.pack._load import load_pack  # noqa: PLC0415

    own = runner is None
    active = runner or Runner(single_call=True)
    try:
        response = call(request, pack or load_pack(), active, watch=watch)
    finally:
        if own:
            active.close()
    return response
