"""`connectorkit emulator`: parse the flags, serve, print the endpoints as one JSON line."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from powerbi_emulator._cloud import CLOUDS
from powerbi_emulator._config import (
    DEFAULT_CLIENT,
    ClientApp,
    ConfigError,
    EmulatorConfig,
    FaultSpec,
    FederatedCredential,
    ManagedIdentity,
    load_clients_file,
    read_certificate,
)
from powerbi_emulator._flows._settings import FlowSettings, FlowSettingsError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["build_parser", "main", "run"]

PROG = "connectorkit emulator"


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "A local Power BI service (identity platform token endpoint and REST API) for "
            "demos and tests. Prints one JSON line with its URLs to stdout, logs to stderr, "
            "and runs until SIGINT or SIGTERM."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (default)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, metavar="F",
        help="run rate windows and token lifetimes F times faster (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--latency", type=float, default=0.0, metavar="MS",
        help="milliseconds added to every API and token request (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--token-lifetime", type=float, default=3600.0, metavar="SECONDS",
        help="access token lifetime in emulated seconds (default 3600)",
    )  # fmt: skip
    parser.add_argument(
        "--client", action="append", default=[], metavar="ID:SECRET",
        help="a client app (repeatable; 'ID:' or 'ID' is a public client). "
        f"Default: {DEFAULT_CLIENT.client_id}:{DEFAULT_CLIENT.client_secret}",
    )  # fmt: skip
    parser.add_argument(
        "--clients-file", type=Path, metavar="PATH",
        help='JSON list of {"client_id", "client_secret", "redirect_uris", "name", '
        '"certificates", "federated_credentials"}',
    )  # fmt: skip
    parser.add_argument(
        "--client-certificate", action="append", default=[], metavar="ID=PEM_FILE",
        help="register a certificate on client ID: its key may sign client assertions "
        "(private_key_jwt); 'ID' alone with --client makes an app with no secret (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--federated-credential", action="append", default=[], metavar="JSON",
        help='trust another issuer\'s token as a client\'s credential, e.g. \'{"client_id": '
        '"app", "subject": "repo:org/repo:ref:refs/heads/main"}\' (issuer omitted: the '
        "emulator's own test issuer; repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--managed-identity", action="append", default=[], metavar="CLIENT_ID[:NAME]",
        help="a user-assigned managed identity of the host, beside its system-assigned one "
        "(repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--single-use-refresh-tokens", action="store_true",
        help="refuse a refresh token once redeemed (Entra keeps it valid; this tests that a "
        "client stores the new one)",
    )  # fmt: skip
    parser.add_argument(
        "--issuer-subject", metavar="SUBJECT",
        help="the subject of the test issuer's CI tokens (default: a GitHub Actions branch)",
    )  # fmt: skip
    parser.add_argument(
        "--fault", action="append", default=[], metavar="JSON",
        help='a fault spec, e.g. \'{"path": "/rows$", "action": "status", "status": 503, '
        '"count": 2}\' (repeatable)',
    )  # fmt: skip
    parser.add_argument(
        "--flows", metavar="JSON",
        help='how long-running operations behave, e.g. \'{"exports": {"seconds": 60, '
        '"bytes": 209715200}, "activity": {"events_per_day": 1000000}}\'',
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="seed for generated ids and fault randomness")
    parser.add_argument("--tenant", default="emulator", help="tenant name in the identity URLs")
    parser.add_argument(
        "--cloud", default="public", choices=sorted(CLOUDS),
        help="the Power BI cloud to pose as: its hosts in discovery, its resource as the "
        "token audience (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--tls", action="store_true",
        help="serve HTTPS with a certificate from a CA made at start; its file is printed as "
        "ca_file (set SSL_CERT_FILE / REQUESTS_CA_BUNDLE to it)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    return parser


def _client(text: str) -> ClientApp:
    client_id, _, secret = text.partition(":")
    return ClientApp(client_id, secret or None)


def _with_credentials(
    clients: list[ClientApp], certificates: list[str], federated: list[str]
) -> list[ClientApp]:
    """The clients, with the certificates and federated credentials given by flag."""
    added: dict[str, tuple[list[str], list[FederatedCredential]]] = {
        c.client_id: ([], []) for c in clients
    }
    for text in certificates:
        client_id, sep, path = text.partition("=")
        if not sep or not path:
            raise ConfigError(f"--client-certificate takes ID=PEM_FILE, got {text!r}")
        if client_id not in added:
            raise ConfigError(f"--client-certificate names an unknown client {client_id!r}")
        added[client_id][0].append(read_certificate(path))
    for text in federated:
        data = _json_object(text, "--federated-credential")
        owner = data.pop("client_id", None)
        if not isinstance(owner, str) or owner not in added:
            raise ConfigError(
                f"--federated-credential needs the client_id of a known client, got {owner!r}"
            )
        added[owner][1].append(FederatedCredential.from_mapping(data, "--federated-credential"))
    return [
        dataclasses.replace(
            c,
            certificates=(*c.certificates, *added[c.client_id][0]),
            federated_credentials=(*c.federated_credentials, *added[c.client_id][1]),
        )
        for c in clients
    ]


def _json_object(text: str, flag: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{flag} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{flag} must be a JSON object")
    return cast("dict[str, object]", data)


def _managed_identity(text: str) -> ManagedIdentity:
    client_id, _, name = text.partition(":")
    return ManagedIdentity(client_id, name)


def _config(args: argparse.Namespace) -> EmulatorConfig:
    clients = [_client(text) for text in args.client]
    if args.clients_file is not None:
        clients.extend(load_clients_file(args.clients_file))
    clients = _with_credentials(
        clients or [DEFAULT_CLIENT], args.client_certificate, args.federated_credential
    )
    faults = [FaultSpec.from_mapping(_json_object(text, "--fault")) for text in args.fault]
    return EmulatorConfig(
        flows=_flows(args.flows),
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        latency_ms=args.latency,
        token_lifetime=args.token_lifetime,
        clients=tuple(clients),
        faults=tuple(faults),
        seed=args.seed,
        tenant=args.tenant,
        cloud=args.cloud,
        tls=args.tls,
        managed_identities=tuple(_managed_identity(t) for t in args.managed_identity),
        single_use_refresh_tokens=args.single_use_refresh_tokens,
        **({"issuer_subject": args.issuer_subject} if args.issuer_subject else {}),
    )


def _flows(text: str | None) -> FlowSettings:
    if text is None:
        return FlowSettings()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--flows is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("--flows must be a JSON object")
    try:
        return FlowSettings.from_mapping(data)
    except FlowSettingsError as exc:
        raise ConfigError(f"--flows: {exc}") from None


def _configure_logging(package: str, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in (package, "uvicorn", "uvicorn.error"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler] if name != "uvicorn.error" else []
        log.setLevel(logging.WARNING if quiet else logging.INFO)


def _announce(urls: dict[str, str]) -> None:
    sys.stdout.write(json.dumps(urls) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; returns the exit code (0 after a signal)."""
    return run(
        argv,
        prog=PROG,
        parser=build_parser(),
        to_config=_config,
        package="powerbi_emulator",
        address=lambda config: (config.host, config.port),
    )


def run(
    argv: Sequence[str] | None,
    *,
    prog: str,
    parser: argparse.ArgumentParser,
    to_config: Callable[[argparse.Namespace], Any],
    package: str,
    address: Callable[[Any], tuple[str, int]],
) -> int:
    """An emulator's command: its flags read, then ``PACKAGE._server`` run until a signal.

    Shared by the emulators of this repository; the exit code: 0 after a signal, 2 for a usage
    error or a missing extra, 1 when the port cannot be listened on.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error; argparse already wrote to stderr
        return exc.code if isinstance(exc.code, int) else 2
    try:
        config = to_config(args)
    except ConfigError as exc:
        sys.stderr.write(f"{prog}: error: {exc}\n")
        return 2
    try:
        server = importlib.import_module(f"{package}._server")  # needs the extra
    except ImportError as exc:
        sys.stderr.write(
            f"{prog}: error: {exc.name or exc} is missing: the emulator needs connectorkit's "
            "optional extra 'emulator' (see: connectorkit emulator --help)\n"
        )
        return 2
    _configure_logging(package, args.quiet)
    try:
        server.serve_forever(config, _announce)
    except OSError as exc:
        host, port = address(config)
        sys.stderr.write(f"{prog}: error: cannot listen on {host}:{port}: {exc}\n")
        return 1
    return 0
