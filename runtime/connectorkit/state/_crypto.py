"""Secrets at rest: every token and stored secret is sealed with Fernet (AES-128-CBC + HMAC).

The key comes from ``CONNECTORKIT_STATE_KEY`` (one or more Fernet keys, comma-separated: the
first seals, all open, so a key can be rotated without losing what the old one sealed). With
nothing set, a store on one machine generates a key on first use and keeps it in a file beside
the store, readable by its owner only. A Redis store is shared by machines, which must all hold
the same key: there the variable is required.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from connectorkit.core._settings import settings
from connectorkit.state._store import StateError

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography.fernet import MultiFernet

__all__ = ["KEY_ENV", "Sealer", "new_key"]

KEY_ENV = "CONNECTORKIT_STATE_KEY"


def new_key() -> str:
    """A fresh random key, in the form ``CONNECTORKIT_STATE_KEY`` takes."""
    from cryptography.fernet import Fernet  # noqa: PLC0415 - cryptography loads only when needed

    return Fernet.generate_key().decode("ascii")


class Sealer:
    """Seals and opens values with the store's key (or keys, newest first)."""

    def __init__(self, keys: list[str], *, source: str) -> None:
        self._keys = keys
        self.source = source
        self._fernet: MultiFernet | None = None

    @classmethod
    def for_store(cls, kind: str, key_file: Path | None) -> Sealer:
        """The sealer of a store: the environment's key, else the key file, else refused."""
        configured = (settings().state_key or "").strip()
        if configured:
            keys = [k.strip() for k in configured.split(",") if k.strip()]
            return cls(keys, source=KEY_ENV)
        if kind == "memory":
            return cls([new_key()], source="memory")
        if key_file is None:
            raise StateError(
                f"{KEY_ENV} is not set: a {kind} store is shared between machines, which must "
                f"all seal and open secrets with the same key. Generate one with "
                f"`connectorkit connections new-key` and set it on every machine."
            )
        return cls([_key_file(key_file)], source=str(key_file))

    def _multi(self) -> MultiFernet:
        if self._fernet is None:
            from cryptography.fernet import Fernet, MultiFernet  # noqa: PLC0415

            try:
                self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in self._keys])
            except (ValueError, UnicodeEncodeError):
                raise StateError(
                    f"{KEY_ENV} must hold Fernet keys (32 url-safe base64 bytes each, comma-"
                    f"separated); make one with `connectorkit connections new-key`"
                ) from None
        return self._fernet

    def seal(self, data: bytes) -> bytes:
        """``data`` encrypted and authenticated with the newest key."""
        return self._multi().encrypt(data)

    def open(self, sealed: bytes) -> bytes:
        """The plain bytes; :class:`StateError` when no key opens them."""
        from cryptography.fernet import InvalidToken  # noqa: PLC0415

        try:
            return self._multi().decrypt(sealed)
        except InvalidToken:
            raise StateError(
                f"a stored secret cannot be opened with the key from {self.source}: the key "
                f"changed; put the old key after the new one in {KEY_ENV} (comma-separated)"
            ) from None

    def reseal(self, sealed: bytes) -> bytes:
        """``sealed`` opened with any key and sealed again with the newest (key rotation)."""
        self.open(sealed)  # the clear error when no key fits
        return self._multi().rotate(sealed)


def _key_file(path: Path) -> str:
    """Read the key kept beside the store, creating it (owner-only) on first use."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateError(f"cannot create the state key file {path}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as out:
            out.write(new_key() + "\n")
    try:
        for _ in range(50):  # another process may have created it an instant ago
            text = path.read_text().strip()
            if text:
                return text
            import time  # noqa: PLC0415

            time.sleep(0.01)
    except OSError as exc:
        raise StateError(f"cannot read the state key file {path}: {exc.strerror}") from None
    raise StateError(f"the state key file {path} is empty; remove it to make a new key")
