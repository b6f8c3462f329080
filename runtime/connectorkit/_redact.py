"""Masking of secrets in everything that is shown: logs, debug output and error messages."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MASK", "RedactingFormatter", "forget_secrets", "mask", "remember_secrets"]

MASK = "***"
# Shorter strings would mask ordinary words; real secrets and tokens are far longer.
_MIN_SECRET_LENGTH = 4
_MAX_REMEMBERED = 4096

_secrets: OrderedDict[str, int] = OrderedDict()
_lock = threading.Lock()


def remember_secrets(values: Iterable[str]) -> None:
    """Mask these strings wherever this process shows text, until forgotten."""
    with _lock:
        for value in values:
            if len(value) < _MIN_SECRET_LENGTH:
                continue
            _secrets[value] = _secrets.get(value, 0) + 1
            _secrets.move_to_end(value)
        while len(_secrets) > _MAX_REMEMBERED:
            _secrets.popitem(last=False)


def forget_secrets(values: Iterable[str]) -> None:
    """Undo one :func:`remember_secrets` of these strings (concurrent calls may share them)."""
    with _lock:
        for value in values:
            count = _secrets.get(value)
            if count is None:
                continue
            if count <= 1:
                del _secrets[value]
            else:
                _secrets[value] = count - 1


def mask(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every remembered secret (and every one of ``extra``) replaced by ``***``."""
    with _lock:
        known = list(_secrets)
    known += [v for v in extra if len(v) >= _MIN_SECRET_LENGTH]
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter that masks secrets in the final line, exception text included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))
