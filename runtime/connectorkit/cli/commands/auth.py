"""``connectorkit auth``: OAuth 2.0 sign-in (``auth login``), which parses its own options."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from connectorkit.cli._common import configure_logging

if TYPE_CHECKING:
    from connectorkit.cli._common import Registry

HELP = """\
usage: connectorkit auth login [options]

Sign a user in for a connection that uses the OAuth 2.0 authorization code flow (the bundled
pack's `oauth2`): the browser opens the identity platform's sign-in page, connectorkit receives
the redirect on http://127.0.0.1:PORT/callback, exchanges the code (with PKCE) and prints the
token as JSON, ready to pass as a request's connection.token. A service principal
(client_credentials) needs no sign-in: the runtime fetches its own tokens.

subcommands:
  login      sign in through the browser and print the token (see: connectorkit auth login -h)

examples:
  connectorkit auth login --set tenant_id=contoso.com --set client_id=… --set client_secret=…
  connectorkit auth login --values emulator.json     # the emulator's connection file
  connectorkit auth login --no-browser > token.json  # print the URL instead of opening a browser
"""


def register(registry: Registry) -> None:
    """Add ``auth``."""
    registry.add_passthrough(
        "auth",
        "OAuth 2.0 sign-in: `auth login` gets a user's token (see: connectorkit auth --help)",
        handler=_auth,
    )


def _auth(argv: list[str]) -> int:
    if argv[:1] in ([], ["-h"], ["--help"], ["help"]):
        (sys.stdout if argv else sys.stderr).write(HELP)
        return 0 if argv else 2
    if argv[:1] != ["login"]:
        sys.stderr.write(f"connectorkit auth: no subcommand '{argv[0]}'\n\n{HELP}")
        return 2
    from connectorkit.auth._login import run_login  # noqa: PLC0415

    configure_logging()
    return int(run_login(argv[1:], stdout=sys.stdout, stderr=sys.stderr))
