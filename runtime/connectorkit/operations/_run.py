"""The entry points ``call`` uses: run, resume or cancel a call of a multi-request action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectorkit.operations._chunks import Fanout
from connectorkit.operations._flow import MultistepCall

if TYPE_CHECKING:
    from connectorkit.operations._context import CallContext

__all__ = ["cancel_operation", "resume_operation", "run_multistep"]


def run_multistep(ctx: CallContext) -> Any:
    """The call, from its first request."""
    call = MultistepCall(ctx)
    if call.multistep.chunks is not None:
        return Fanout(call).run(dict(ctx.inputs))
    return call.run()


def resume_operation(ctx: CallContext, record: dict[str, Any]) -> Any:
    """Go on with a handle (``ctx.inputs`` are the handle's, with the caller's overrides)."""
    call = MultistepCall(ctx)
    if call.multistep.chunks is not None:
        return Fanout(call).resume(record)
    return call.resume(record)


def cancel_operation(ctx: CallContext, record: dict[str, Any]) -> dict[str, Any]:
    """Ask the service to cancel the handle's operations."""
    return MultistepCall(ctx).cancel(record)
