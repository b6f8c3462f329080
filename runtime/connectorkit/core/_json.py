r"""Strict JSON (RFC 8259) at the edges: what comes in from a caller or a service, what goes out.

Python's ``json`` accepts ``NaN``/``Infinity``, turns ``1e400`` into infinity and decodes a lone
surrogate escape such as ``"\ud800"`` into a string that cannot be encoded as UTF-8. None of
those may reach stdout or a request sent to a service. This module finds them (cheaply: a
regular expression over the raw text decides whether the parsed document needs a walk), reads
a service's body strictly, and writes any envelope as strict, UTF-8-encodable JSON.

A request is read by msgspec first (:func:`loads_exact`): several times faster than the standard
library, integers of any size kept exact, and it refuses everything strict JSON refuses (``NaN``,
``1e400``, lone surrogates, bad UTF-8, a byte order mark). What it accepts, the standard library
reads to the same value, and then there is nothing unrepresentable to look for; what it refuses
goes the standard library's way, which gives the message and the exact old behaviour.
"""

from __future__ import annotations

import gc
import json
import math
import re
import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "NOT_JSON",
    "PLAIN_INPUTS",
    "dumps",
    "encode",
    "loads_exact",
    "loads_service",
    "sanitize",
    "suspicious",
    "unrepresentable",
]

# A float literal that may overflow to infinity (an exponent of three digits or more, or a very
# long run of digits), or a surrogate, escaped or raw. Only then is a parsed document walked.
_SUSPICIOUS_BYTES = re.compile(rb"[eE][+]?0*\d{3}|\d{300}|\\u[dD][89a-fA-F]")
# Compiled at their first use (re keeps them): a class of the surrogates costs a fifth of a
# millisecond to compile, for texts a request read as bytes never has.
_SUSPICIOUS_TEXT = r"[eE][+]?0*\d{3}|\d{300}|\\u[dD][89a-fA-F]|[\ud800-\udfff]"
_SURROGATE = r"[\ud800-\udfff]"
_REPLACEMENT = "\ufffd"


# True while a request decoded from JSON text is handled (the protocol sets it): its inputs hold
# plain JSON values only (dict, list, str, int, float, bool, None; no subclass, no other type), so
# a check may skip proving that of a million rows. Anything else (a Python caller) leaves it False.
PLAIN_INPUTS: ContextVar[bool] = ContextVar("connectorkit_plain_inputs", default=False)


class _NotJSON:
    """What :func:`loads_service` returns for a body that is not strict JSON."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJSON()


def suspicious(text: str | bytes) -> bool:
    """Whether parsed ``text`` may hold a lone surrogate or a number too large for a float."""
    if isinstance(text, bytes):
        return _SUSPICIOUS_BYTES.search(text) is not None
    return re.search(_SUSPICIOUS_TEXT, text) is not None


def _bad_text(value: str) -> bool:
    return not value.isascii() and re.search(_SURROGATE, value) is not None


def _bad_number(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def unrepresentable(value: Any, path: str = "") -> list[tuple[str, str]]:
    """``(path, why)`` for every string, key or number in ``value`` that strict JSON cannot carry.

    Paths read like ``inputs.rows[3].name``; ``path`` is the prefix.
    """
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if _bad_text(item):
                found.append((where, "holds a lone surrogate (text that is not valid Unicode)"))
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _bad_text(key):
                    found.append((child_path, "has a name that is not valid Unicode"))
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
        elif _bad_number(item):
            found.append((where, "is a number outside the range JSON numbers can carry"))
    found.reverse()  # the stack walks backwards; report in document order
    return found


def sanitize(value: Any) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD and non-finite numbers by ``null``."""
    if isinstance(value, str):
        return re.sub(_SURROGATE, _REPLACEMENT, value) if _bad_text(value) else value
    if isinstance(value, dict):
        return {sanitize(k) if isinstance(k, str) else k: sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if _bad_number(value):
        return None
    return value


_ENCODER = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    """``value`` as one line of strict JSON in UTF-8 (msgspec's encoder); never raises.

    What msgspec cannot encode as it is (a lone surrogate, a type it does not know) goes the
    standard library's way, as :func:`dumps` always did: surrogates replaced, ``str()`` of the
    rest. A non-finite number becomes ``null`` either way.
    """
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        # ValueError covers UnicodeEncodeError: a lone surrogate.
        return _stdlib_dumps(value).encode()


def dumps(value: Any) -> str:
    """``value`` as one line of strict JSON that always encodes as UTF-8; never raises."""
    return encode(value).decode()


def _stdlib_dumps(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        text.encode("utf-8")
    except (ValueError, TypeError, RecursionError):
        # ValueError covers both a non-finite number and UnicodeEncodeError (its subclass).
        text = json.dumps(
            sanitize(value),
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
            default=str,
        )
    return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"{literal} is too large for a JSON number")
    return number


def loads_service(content: bytes | str) -> Any:
    """A service's body parsed as strict JSON, or :data:`NOT_JSON`.

    Not JSON: not UTF-8, ``NaN``/``Infinity``, a number that overflows, a lone surrogate, or
    nesting deeper than the parser allows. The caller then shows the body as text instead.
    """
    if not content:
        return NOT_JSON
    strict = suspicious(content)
    try:
        value = json.loads(
            content, parse_constant=_no_constant, parse_float=_finite if strict else None
        )
    except (ValueError, RecursionError):
        return NOT_JSON
    if strict and unrepresentable(value):
        return NOT_JSON
    return value


# Extra frames msgspec runs below its caller. It counts nesting against the interpreter's recursion
# limit as the standard library does, but allows a few levels more; from this far down it gives up
# first, so a document too deep for the standard library never gets through the fast path.
_DEPTH_MARGIN = 12
# Above this size the cyclic garbage collector is paused while a document is built: its objects
# hold no cycles, and a million rows would otherwise be scanned again and again as they appear.
_PAUSE_GC_FROM = 1 << 20


def _decode_below(text: str | bytes, frames: int, decode: Callable[[str | bytes], Any]) -> Any:
    if frames:
        return _decode_below(text, frames - 1, decode)
    return decode(text)


# A text up to this long is counted through for brackets; a longer one is decoded below the
# margin's frames without asking (a few microseconds, nothing next to parsing it).
_COUNT_UP_TO = 1 << 16


def _may_nest_deep(text: str | bytes) -> bool:
    """Whether ``text`` opens enough arrays and objects to come near the recursion limit."""
    shallow = sys.getrecursionlimit() // 4
    if len(text) < shallow:
        return False
    if len(text) > _COUNT_UP_TO:
        return True  # counting would cost more than the frames it could spare
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{") >= shallow
    return text.count("[") + text.count("{") >= shallow


def loads_exact(text: str | bytes, decoder: msgspec.json.Decoder[Any] | None = None) -> Any:
    """``text`` parsed by msgspec, or :data:`NOT_JSON` when msgspec refuses it.

    A value returned is what ``json.loads`` returns for ``text``, and holds only what strict
    JSON can carry. For :data:`NOT_JSON`, the caller parses ``text`` the standard library's way,
    which explains the refusal (or accepts what only Python's json accepts, as before).
    ``decoder``: decode into its type instead (checked as it is parsed); a value of the wrong
    type is :data:`NOT_JSON` too.
    """
    paused = len(text) >= _PAUSE_GC_FROM and gc.isenabled()
    if paused:
        gc.disable()
    try:
        decode = msgspec.json.decode if decoder is None else decoder.decode
        if not _may_nest_deep(text):
            return decode(text)  # too shallow for the recursion limit to tell the parsers apart
        return _decode_below(text, _DEPTH_MARGIN, decode)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        # ValueError includes UnicodeError: bytes that are not UTF-8, or a lone surrogate in str.
        return NOT_JSON
    finally:
        if paused:
            gc.enable()
