"""Masking of secrets in everything that is shown: logs, debug output and error messages.

A secret rarely shows up only as itself. It travels percent-encoded in a query string,
form-encoded in a token request (which a token endpoint may echo in ``error_description``),
base64-encoded inside an HTTP Basic credential, JSON-escaped in a body, or as the password of a
URL (``https://user:pass@host``). Every remembered secret is therefore masked in each of those
representations, and a URL's password is masked whether it was remembered or not. A PEM
(a private key) is masked line by line too, and as its base64 body without line breaks.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MASK",
    "RedactingFormatter",
    "StderrHandler",
    "encodings_of",
    "forget_all",
    "forget_secrets",
    "holds_secret",
    "mask",
    "mask_value",
    "remember_secrets",
]

MASK = "***"
# Shorter strings would mask ordinary words; real secrets and tokens are far longer.
_MIN_SECRET_LENGTH = 4
# A base64 fragment shorter than this could match by chance.
_MIN_BASE64_FRAGMENT = 6
_MAX_REMEMBERED = 4096
# The characters different encoders leave alone: none, RFC 3986's path set, httpx's query set.
_SAFE_SETS = ("", "/", "!$'()*,;:@/?~")
# scheme://user:password@  (the password is what is masked). As URL parsers read it, httpx's too:
# the authority ends at '/', '?' or '#', and the user information at its last '@', so a user
# name may be an e-mail address and a password may hold '@' or ':'.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#:]*:)(?P<password>[^\s/?#]+)@")

# secret -> how many live calls registered it; each with its encodings, longest first.
_secrets: OrderedDict[str, int] = OrderedDict()
_encoded: dict[str, tuple[str, ...]] = {}
_encoded_bytes: dict[str, tuple[bytes, ...]] = {}  # the same forms as UTF-8 (holds_secret)
_lock = threading.Lock()
# Every form of every secret, longest first; rebuilt by the next mask() after a change, so that
# remembering and forgetting (once per call) stay cheap and only showing text pays for sorting.
_snapshot: tuple[str, ...] = ()
_dirty = False


def _base64_fragments(secret: bytes) -> set[str]:
    """The part of base64 text that stands for ``secret`` wherever it sits in a longer value.

    Base64 works in groups of three bytes, so the characters that depend only on the secret
    depend on its offset modulo three: one fragment per offset (the few edge characters mixed
    with neighbouring bytes are left, which tells nothing useful about the secret).
    """
    fragments: set[str] = set()
    for offset, skip in ((0, 0), (1, 2), (2, 3)):
        whole = len(secret) + offset
        encoded = base64.b64encode(b"\0" * offset + secret)[: (whole // 3) * 4]
        for text in (encoded, base64.urlsafe_b64encode(b"\0" * offset + secret)[: len(encoded)]):
            fragment = text[skip:].decode("ascii")
            if len(fragment) >= _MIN_BASE64_FRAGMENT:
                fragments.add(fragment)
    return fragments


def encodings_of(secret: str) -> tuple[str, ...]:
    """``secret`` and the forms it takes in URLs, forms, JSON and base64; longest first."""
    forms = {secret}
    for safe in _SAFE_SETS:
        forms.add(quote(secret, safe=safe))
        forms.add(quote_plus(secret, safe=safe))
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms}
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    # base64 of the secret, and of its form-encoded form (HTTP Basic encodes that, RFC 6749 2.3.1)
    for plain in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
        raw = plain.encode("utf-8", "surrogatepass")
        forms |= _base64_fragments(raw)
        # The whole value encoded on its own, padding included.
        forms |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms |= _pem_parts(secret)
    return tuple(sorted((f for f in forms if len(f) >= _MIN_SECRET_LENGTH), key=len, reverse=True))


# A PEM body line is 64 base64 characters; shorter pieces (the last line) still say much.
_MIN_PEM_LINE = 16
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----(?P<body>[A-Za-z0-9+/=\s:,-]+?)-----END")


def _pem_parts(secret: str) -> set[str]:
    """Each base64 line of a PEM's blocks, and each body joined without line breaks."""
    parts: set[str] = set()
    if "-----BEGIN" not in secret:
        return parts
    for block in _PEM_BLOCK.finditer(secret):
        lines = [line.strip() for line in block.group("body").splitlines() if ":" not in line]
        lines = [line for line in lines if line]
        parts |= {line for line in lines if len(line) >= _MIN_PEM_LINE}
        parts.add("".join(lines))
    return parts


# The encodings of secrets seen lately, live or not: serve's calls over one connection each
# remember and then forget the same secrets, and working out their forms is most of that cost.
# Only text already held by this process is kept, never shown; bounded like the live table.
_recent_forms: OrderedDict[str, tuple[tuple[str, ...], tuple[bytes, ...]]] = OrderedDict()
_MAX_RECENT_FORMS = 256


def _forms_of(secret: str) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """:func:`encodings_of` (and as UTF-8), from the recent ones when known (under ``_lock``)."""
    forms = _recent_forms.get(secret)
    if forms is None:
        text = encodings_of(secret)
        forms = _recent_forms[secret] = (text, tuple(form.encode() for form in text))
        if len(_recent_forms) > _MAX_RECENT_FORMS:
            _recent_forms.popitem(last=False)
    else:
        _recent_forms.move_to_end(secret)
    return forms


def _forms() -> tuple[str, ...]:
    global _snapshot, _dirty  # noqa: PLW0603 - one process-wide table, replaced under the lock
    with _lock:
        if _dirty:
            forms = {form for secret in _secrets for form in _encoded[secret]}
            _snapshot = tuple(sorted(forms, key=len, reverse=True))
            _dirty = False
        return _snapshot


def holds_secret(data: bytes) -> bool:
    """Whether ``data`` (UTF-8 text: an encoded JSON document) holds a remembered secret.

    In any encoding :func:`encodings_of` lists; a fast scan, for deciding whether a document
    needs :func:`mask` at all.
    """
    with _lock:
        groups = list(_encoded_bytes.values())
    return any(form in data for group in groups for form in group)


def forget_all() -> None:
    """Forget every secret (a fresh process's state; for tests)."""
    global _dirty  # noqa: PLW0603 - see _forms
    with _lock:
        _secrets.clear()
        _encoded.clear()
        _encoded_bytes.clear()
        _recent_forms.clear()
        _dirty = True


def remember_secrets(values: Iterable[str]) -> None:
    """Mask these strings (in every encoding) wherever this process shows text, until forgotten.

    Calls that share a secret each remember it; it stays masked until every one has forgotten it.
    """
    global _dirty  # noqa: PLW0603 - see _forms
    with _lock:
        for value in values:
            if len(value) < _MIN_SECRET_LENGTH:
                continue
            if value not in _secrets:
                _encoded[value], _encoded_bytes[value] = _forms_of(value)
            _secrets[value] = _secrets.get(value, 0) + 1
            _secrets.move_to_end(value)
        while len(_secrets) > _MAX_REMEMBERED:
            oldest, _ = _secrets.popitem(last=False)
            _encoded.pop(oldest, None)
            _encoded_bytes.pop(oldest, None)
        _dirty = True


def forget_secrets(values: Iterable[str]) -> None:
    """Undo one :func:`remember_secrets` of these strings (concurrent calls may share them)."""
    global _dirty  # noqa: PLW0603 - see _forms
    with _lock:
        for value in values:
            count = _secrets.get(value)
            if count is None:
                continue
            if count <= 1:
                del _secrets[value]
                _encoded.pop(value, None)
                _encoded_bytes.pop(value, None)
            else:
                _secrets[value] = count - 1
        _dirty = True


def mask(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every remembered secret (and every one of ``extra``) replaced by ``***``.

    Each secret is masked in every encoding :func:`encodings_of` lists, longest form first, so a
    secret that contains another is masked whole; a password in a URL is masked too.
    """
    forms: Iterable[str] = _forms()
    more = [v for v in extra if len(v) >= _MIN_SECRET_LENGTH]
    if more:
        added = {form for value in more for form in encodings_of(value)}
        forms = sorted(added.union(forms), key=len, reverse=True)
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return text


def mask_value(value: Any) -> Any:
    """A JSON value with every remembered secret masked in its texts (keys included)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask_value(k): mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value


class RedactingFormatter(logging.Formatter):
    """A formatter that masks secrets in the final line, exception text included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing masked lines to whatever ``sys.stderr`` is when a record comes.

    Two things the standard ``StreamHandler`` does wrong for us:

    - it keeps the stream it was given, so once that stream is closed or replaced every
      record fails;
    - when a record fails, ``Handler.handleError`` prints the traceback of the exception
      being handled *at that moment*, unmasked. A record logged while handling an error
      whose message carries a secret would put that secret on stderr.

    This one looks ``sys.stderr`` up for each record, and a failed record is reported in one
    masked line naming only the failure's type.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current ``sys.stderr``; setting it does nothing."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        failure = sys.exc_info()[1]
        note = (
            f"connectorkit: a log line ({record.levelname}) could not be written "
            f"({type(failure).__name__})\n"
        )
        with contextlib.suppress(Exception):
            sys.stderr.write(note)
