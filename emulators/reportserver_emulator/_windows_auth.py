"""Windows authentication as a report server does it: NTLM and Negotiate, per TCP connection.

A report server configured for RSWindowsBasic also takes HTTP Basic with a Windows account's
name and password, checked on every request (it binds nothing to the connection).

The server side of the handshake is pyspnego's acceptor. A connection starts anonymous; the
client sends a negotiate token, the server answers 401 with its challenge, the client answers
with its authenticate token on the *same* connection, and from then on that connection is the
user's until it closes. A wrong password, an unknown user, or an authenticate token on a
connection that never got a challenge all end in a fresh 401.

pyspnego's NTLM acceptor looks users up in the file named by ``NTLM_USER_FILE``;
:func:`install_users` writes that file (in the smbpasswd form) for the emulator process.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMES",
    "AuthOutcome",
    "ConnectionAuth",
    "User",
    "install_users",
    "parse_user",
    "read_users_file",
]

log = logging.getLogger("reportserver_emulator.auth")

# What the server offers in WWW-Authenticate, by the --scheme setting.
SCHEMES = {
    "both": ("Negotiate", "NTLM"),
    "negotiate": ("Negotiate",),
    "ntlm": ("NTLM",),
    "basic": ("Basic",),
    "all": ("Negotiate", "NTLM", "Basic"),
}
_NTLM_NEGOTIATE = 1
_SPNEGO_INIT = 0x60


@dataclass(frozen=True, slots=True)
class User:
    r"""An account the server accepts: ``DOMAIN\name`` (domain may be empty) and its password."""

    domain: str
    name: str
    password: str

    @property
    def principal(self) -> str:
        """The name the server reports for the account."""
        return f"{self.domain}\\{self.name}" if self.domain else self.name


def parse_user(text: str) -> User:
    r"""``DOMAIN\user:password`` or ``user:password`` (the password may contain colons)."""
    who, sep, password = text.partition(":")
    if not sep or not who or not password:
        raise ValueError(f"a user is DOMAIN\\name:password or name:password, not {who!r}:…")
    domain, _, name = who.rpartition("\\")
    if not name:
        raise ValueError(f"a user needs a name: {who!r}")
    return User(domain=domain, name=name, password=password)


def read_users_file(path: Path) -> list[User]:
    r"""Users from a file: one ``DOMAIN\user:password`` per line; ``#`` starts a comment."""
    users = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            users.append(parse_user(line))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    return users


def install_users(users: list[User]) -> Path:
    """Write the users where pyspnego's acceptor reads them; returns the file (owner-only)."""
    # pyspnego's NTLM hashing, so that a password may hold any character: the smbpasswd form
    # of the file carries hashes, where the DOMAIN:USER:PASSWORD form cannot hold a colon.
    from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1  # noqa: PLC0415

    handle, name = tempfile.mkstemp(prefix="rs-emulator-users-", text=True)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        for user in users:
            lm = lmowfv1(user.password).hex().upper()
            nt = ntowfv1(user.password).hex().upper()
            out.write(f"{user.principal}:0:{lm}:{nt}:[U]:LCT-00000000\n")
    os.environ["NTLM_USER_FILE"] = name
    return Path(name)


@dataclass(slots=True)
class AuthOutcome:
    """What one request's Authorization header led to."""

    user: str | None = None  # the authenticated principal, when the request may proceed
    headers: list[tuple[str, str]] = field(default_factory=list)  # WWW-Authenticate to send
    failed: bool = False  # credentials were presented and refused


class ConnectionAuth:
    """The authentication state of one client connection."""

    def __init__(
        self, offered: tuple[str, ...], stats: dict[str, int], users: tuple[User, ...] = ()
    ) -> None:
        self.offered = offered
        self.user: str | None = None
        self._context: Any = None
        self._scheme: str | None = None
        self._stats = stats
        self._users = users

    def offers(self) -> list[tuple[str, str]]:
        """The bare WWW-Authenticate headers that invite a client to start a handshake."""
        return [
            ("WWW-Authenticate", 'Basic realm="reportserver"' if s == "Basic" else s)
            for s in self.offered
        ]

    def check(self, header: str | None) -> AuthOutcome:
        """Take one request's Authorization header; say who it is or what to answer."""
        if not header:
            if self.user is not None:
                return AuthOutcome(user=self.user)
            return AuthOutcome(headers=self.offers())
        scheme, _, encoded = header.strip().partition(" ")
        scheme = next((s for s in self.offered if s.lower() == scheme.lower()), "")
        if not scheme or not encoded.strip():
            return AuthOutcome(headers=self.offers())
        try:
            token = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return AuthOutcome(headers=self.offers(), failed=True)
        if scheme == "Basic":
            return self._basic(token)
        step = self._start if _starts_handshake(token) else self._finish
        return step(scheme, token)

    def _basic(self, token: bytes) -> AuthOutcome:
        r"""``DOMAIN\name:password``, ``name@domain:password`` or ``name:password``."""
        who, _, password = token.decode("utf-8", "replace").partition(":")
        domain, _, name = who.rpartition("\\")
        if "@" in name and not domain:
            name, _, domain = name.partition("@")
        for user in self._users:
            same_name = user.name.lower() == name.lower()
            same_domain = (
                not domain or user.domain.split(".")[0].lower() == domain.split(".")[0].lower()
            )
            if same_name and same_domain and hmac.compare_digest(user.password, password):
                self._stats["logons"] += 1
                return AuthOutcome(user=user.principal)
        log.info("basic logon failed for %s", who)
        self._stats["refused"] += 1
        return AuthOutcome(headers=self.offers(), failed=True)

    def _start(self, scheme: str, token: bytes) -> AuthOutcome:
        import spnego  # noqa: PLC0415 - the acceptor is only needed once a client knocks

        # A new handshake on this connection drops whoever it was authenticated as before.
        self.user = None
        self._scheme = scheme
        self._context = spnego.server(
            hostname="reportserver", service="HTTP", protocol=scheme.lower()
        )
        try:
            challenge = self._context.step(token)
        except Exception as exc:  # noqa: BLE001 - any malformed token is a refusal
            log.info("%s negotiate token refused: %s", scheme, exc)
            self._context = None
            return AuthOutcome(headers=self.offers(), failed=True)
        self._stats["challenges"] += 1
        value = f"{scheme} {base64.b64encode(challenge or b'').decode()}"
        return AuthOutcome(headers=[("WWW-Authenticate", value)])

    def _finish(self, scheme: str, token: bytes) -> AuthOutcome:
        context, self._context = self._context, None
        if context is None or scheme != self._scheme:
            log.info("%s authenticate token on a connection with no pending challenge", scheme)
            self._stats["refused"] += 1
            return AuthOutcome(headers=self.offers(), failed=True)
        try:
            final = context.step(token)
        except Exception as exc:  # noqa: BLE001 - wrong password, unknown user, bad MIC, …
            log.info("logon failed: %s", exc)
            self._stats["refused"] += 1
            return AuthOutcome(headers=self.offers(), failed=True)
        if not context.complete:
            self._stats["refused"] += 1
            return AuthOutcome(headers=self.offers(), failed=True)
        self.user = str(context.client_principal or "")
        self._stats["logons"] += 1
        log.info("connection authenticated as %s (%s)", self.user, scheme)
        headers = (
            [("WWW-Authenticate", f"{scheme} {base64.b64encode(final).decode()}")] if final else []
        )
        return AuthOutcome(user=self.user, headers=headers)


def _starts_handshake(token: bytes) -> bool:
    """A raw NTLM NEGOTIATE_MESSAGE, or an SPNEGO NegTokenInit (application tag 0x60)."""
    if token.startswith(b"NTLMSSP\x00") and len(token) >= 12:  # noqa: PLR2004 - header size
        return int.from_bytes(token[8:12], "little") == _NTLM_NEGOTIATE
    return bool(token) and token[0] == _SPNEGO_INIT
