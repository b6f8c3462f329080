"""What an emulator instance is made of: its clients, limits, faults and clocks."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from powerbi_emulator._cloud import CLOUDS
from powerbi_emulator._flows._settings import FlowSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_CLIENT",
    "FAULT_ACTIONS",
    "TOKEN_EXCHANGE_AUDIENCE",
    "ClientApp",
    "ConfigError",
    "EmulatorConfig",
    "FaultAction",
    "FaultSpec",
    "FederatedCredential",
    "ManagedIdentity",
    "PushLimits",
    "load_clients_file",
    "read_certificate",
]


class ConfigError(ValueError):
    """An emulator option, client definition or fault spec is invalid."""


TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - an audience, not a secret


@dataclasses.dataclass(frozen=True)
class FederatedCredential:
    """A trust an app registration places in another issuer's tokens (workload identity).

    A token whose `iss`, `sub` and one `aud` match may stand in for the app's secret.
    `issuer` None trusts the emulator's own test issuer (`/_emulator/issuer`).
    """

    subject: str
    issuer: str | None = None
    audiences: tuple[str, ...] = (TOKEN_EXCHANGE_AUDIENCE,)
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "audiences", tuple(self.audiences))
        if not self.subject:
            raise ConfigError("a federated credential needs a subject")
        if self.issuer is not None and not self.issuer.startswith(("https://", "http://")):
            raise ConfigError(f"federated credential issuer must be a URL, got {self.issuer!r}")
        if not self.audiences or not all(self.audiences):
            raise ConfigError("a federated credential needs at least one audience")
        if not self.name:
            object.__setattr__(self, "name", _credential_name(self.issuer, self.subject))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], where: str) -> FederatedCredential:
        """From its JSON form: `subject`, optional `issuer`, `audiences`, `name`."""
        unknown = sorted(set(data) - {"subject", "issuer", "audiences", "name"})
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
        subject, issuer, name = data.get("subject"), data.get("issuer"), data.get("name", "")
        audiences = data.get("audiences", [TOKEN_EXCHANGE_AUDIENCE])
        if not isinstance(subject, str) or not (issuer is None or isinstance(issuer, str)):
            raise ConfigError(f"{where}: subject (and issuer, if given) must be strings")
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise ConfigError(f"{where}: audiences must be a list of strings")
        if not isinstance(name, str):
            raise ConfigError(f"{where}: name must be a string")
        return cls(subject, issuer, tuple(cast("list[str]", audiences)), name)

    def to_json(self) -> dict[str, object]:
        """The credential as the control API lists it."""
        return {
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
        }


def _credential_name(issuer: str | None, subject: str) -> str:
    """A stable name for an unnamed federated credential."""
    return "fic-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{issuer or ''}|{subject}"))[:8]


@dataclasses.dataclass(frozen=True)
class ClientApp:
    """An app registration the identity endpoints know.

    An app with no secret, no certificate and no federated credential is a public client
    (PKCE required). `certificates` are PEM X.509 certificates whose keys may sign client
    assertions (`private_key_jwt`). An empty `redirect_uris` accepts any absolute redirect
    URI, like a permissive registration.
    """

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...] = ()
    name: str = ""
    certificates: tuple[str, ...] = ()
    federated_credentials: tuple[FederatedCredential, ...] = ()

    def __post_init__(self) -> None:
        if not self.client_id or any(c.isspace() for c in self.client_id):
            raise ConfigError(f"client_id must be a non-empty word, got {self.client_id!r}")
        if self.client_secret == "":
            raise ConfigError(f"client {self.client_id!r}: client_secret must not be empty")
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))
        object.__setattr__(self, "certificates", tuple(self.certificates))
        object.__setattr__(self, "federated_credentials", tuple(self.federated_credentials))
        from powerbi_emulator._credentials import Certificate  # noqa: PLC0415 - needs cryptography

        for pem in self.certificates:
            try:
                Certificate.from_pem(pem)
            except ValueError as exc:
                raise ConfigError(f"client {self.client_id!r}: {exc}") from None

    @property
    def confidential(self) -> bool:
        """Whether the app was registered with any credential (else it is a public client)."""
        return bool(self.client_secret or self.certificates or self.federated_credentials)

    @property
    def display_name(self) -> str:
        """The service principal's display name (the client_id when unnamed)."""
        return self.name or self.client_id


DEFAULT_CLIENT = ClientApp("connectorkit-demo", "demo-secret", name="connectorkit demo")


@dataclasses.dataclass(frozen=True)
class PushLimits:
    """Push dataset limits; the defaults are the ones Power BI documents."""

    max_tables: int = 75
    max_columns: int = 75
    max_rows_per_post: int = 10_000
    max_string_length: int = 4_000
    posts_per_minute: int = 120
    rows_per_hour: int = 1_000_000
    max_pending_posts: int = 5
    fifo_max_rows: int = 200_000
    max_rows_per_table: int = 5_000_000
    large_table_rows: int = 250_000
    large_table_posts_per_hour: int = 120

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"limit {field.name} must be a positive integer, got {value!r}")


_ERROR_STATUSES = range(400, 600)
_PORTS = range(65536)

FaultAction = Literal["status", "drop_before", "drop_after", "stall"]
FAULT_ACTIONS: tuple[FaultAction, ...] = ("status", "drop_before", "drop_after", "stall")


@dataclasses.dataclass(frozen=True)
class FaultSpec:
    """A fault to inject into matching requests (see `FaultSpec.from_mapping` for the JSON form).

    `path` is a regular expression searched in the raw (still percent-encoded) request path;
    `method` None matches every method. A fault fires on a matching request with probability
    `rate` (drawn from an RNG seeded with `seed`), at most `count` times (None: unlimited).
    """

    action: FaultAction = "status"
    path: str = ""
    method: str | None = None
    status: int = 503
    retry_after: int | None = None
    rate: float = 1.0
    count: int | None = None
    seed: int | None = None
    stall_ms: int = 5_000
    code: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.action not in FAULT_ACTIONS:
            raise ConfigError(f"fault action must be one of {', '.join(FAULT_ACTIONS)}")
        try:
            re.compile(self.path)
        except re.error as exc:
            raise ConfigError(f"fault path is not a valid regular expression: {exc}") from None
        if self.method is not None:
            object.__setattr__(self, "method", self.method.upper())
        if self.status not in _ERROR_STATUSES:
            raise ConfigError(f"fault status must be an HTTP error status, got {self.status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ConfigError("fault retry_after must be >= 0")
        if not (0.0 <= self.rate <= 1.0) or math.isnan(self.rate):
            raise ConfigError("fault rate must be between 0 and 1")
        if self.count is not None and self.count < 1:
            raise ConfigError("fault count must be >= 1 (omit it for unlimited)")
        if self.stall_ms < 0:
            raise ConfigError("fault stall_ms must be >= 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> FaultSpec:
        """Build a spec from its JSON form, rejecting unknown keys and wrong types."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown fault field(s): {', '.join(unknown)}")
        kwargs: dict[str, object] = {}
        for key, value in data.items():
            kwargs[key] = _coerce_fault_field(key, value)
        return cls(**kwargs)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        """The spec as JSON, with every field."""
        return dataclasses.asdict(self)


_INT_FIELDS = {"status", "retry_after", "count", "seed", "stall_ms"}
_STR_FIELDS = {"action", "path", "method", "code", "message"}
_NULLABLE = {"method", "retry_after", "count", "seed", "code", "message"}


def _coerce_fault_field(key: str, value: object) -> object:
    if value is None and key in _NULLABLE:
        return None
    if key in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"fault field {key!r} must be an integer")
        return value
    if key in _STR_FIELDS:
        if not isinstance(value, str):
            raise ConfigError(f"fault field {key!r} must be a string")
        return value
    # rate is the only float field
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"fault field {key!r} must be a number")
    return float(value)


@dataclasses.dataclass(frozen=True)
class ManagedIdentity:
    """A user-assigned managed identity attached to the emulated host.

    The system-assigned identity always exists; these are the extra ones a token request
    picks by `client_id`, `object_id` or resource id.
    """

    client_id: str
    name: str = ""

    def __post_init__(self) -> None:
        if not self.client_id or any(c.isspace() or c == ":" for c in self.client_id):
            raise ConfigError(f"managed identity client_id must be a word, got {self.client_id!r}")
        if not self.name:
            object.__setattr__(self, "name", f"identity-{self.client_id[:8]}")


@dataclasses.dataclass(frozen=True)
class EmulatorConfig:
    """Options of one emulator instance (the CLI flags, as data).

    `time_scale` F makes every emulated clock (rate windows, token and code lifetimes) run
    F times faster than real time; `token_lifetime` is in emulated seconds. `latency_ms` and
    fault stalls are real milliseconds. `flows` sets how long-running operations behave.
    """

    host: str = "127.0.0.1"
    port: int = 0
    time_scale: float = 1.0
    latency_ms: float = 0.0
    token_lifetime: float = 3600.0
    clients: tuple[ClientApp, ...] = (DEFAULT_CLIENT,)
    faults: tuple[FaultSpec, ...] = ()
    seed: int | None = None
    tenant: str = "emulator"
    limits: PushLimits = PushLimits()
    cloud: str = "public"
    tls: bool = False
    managed_identities: tuple[ManagedIdentity, ...] = ()
    single_use_refresh_tokens: bool = False
    identity_header: str | None = None
    issuer_subject: str = "repo:contoso/reports:ref:refs/heads/main"
    flows: FlowSettings = dataclasses.field(default_factory=FlowSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(self, "managed_identities", tuple(self.managed_identities))
        if not _is_loopback(self.host):
            raise ConfigError(f"the emulator binds loopback addresses only, not {self.host!r}")
        if self.port not in _PORTS:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if not self.time_scale > 0 or math.isinf(self.time_scale):
            raise ConfigError("time_scale must be a positive finite number")
        if not self.latency_ms >= 0:
            raise ConfigError("latency_ms must be >= 0")
        if not self.token_lifetime > 0:
            raise ConfigError("token_lifetime must be > 0")
        if not self.clients:
            raise ConfigError("at least one client is required")
        ids = [c.client_id for c in self.clients]
        if len(set(ids)) != len(ids):
            raise ConfigError("client ids must be unique")
        if self.cloud not in CLOUDS:
            raise ConfigError(f"cloud must be one of {', '.join(CLOUDS)}, got {self.cloud!r}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", self.tenant):
            raise ConfigError(f"tenant must be a simple name, got {self.tenant!r}")
        self._check_identity_options(ids)

    def _check_identity_options(self, client_ids: list[str]) -> None:
        identities = [m.client_id for m in self.managed_identities]
        if len(set(identities)) != len(identities) or set(identities) & set(client_ids):
            raise ConfigError("managed identity client ids must be unique and not an app's")
        if self.identity_header == "":
            raise ConfigError("identity_header must not be empty")
        if not self.issuer_subject:
            raise ConfigError("issuer_subject must not be empty")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_clients_file(path: Path) -> tuple[ClientApp, ...]:
    """Read client apps from a JSON file.

    The file holds a list (or `{"clients": [...]}`) of objects with `client_id`,
    `client_secret` (null for none), optional `redirect_uris`, `name`, `certificates` (PEM
    texts, or paths of PEM files relative to the clients file) and `federated_credentials`
    (objects with `subject`, optional `issuer`, `audiences`, `name`).
    """
    try:
        data: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read clients file {path}: {exc}") from None
    if isinstance(data, dict) and "clients" in data:
        data = data["clients"]
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{path}: expected a non-empty list of clients")
    return tuple(
        _client_entry(entry, f"{path}: client #{index}", path.parent)
        for index, entry in enumerate(data)
    )


def _client_entry(entry: object, where: str, folder: Path) -> ClientApp:
    """One app of a clients file."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not an object")
    item = cast("dict[str, object]", entry)
    unknown = sorted(set(item) - _CLIENT_FIELDS)
    if unknown:
        raise ConfigError(f"{where} has unknown field(s) {', '.join(unknown)}")
    client_id, secret = item.get("client_id"), item.get("client_secret")
    uris, name = item.get("redirect_uris", []), item.get("name", "")
    if not isinstance(client_id, str) or not (secret is None or isinstance(secret, str)):
        raise ConfigError(f"{where} needs string client_id and client_secret")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ConfigError(f"{where} redirect_uris must be a list of strings")
    if not isinstance(name, str):
        raise ConfigError(f"{where} name must be a string")
    certificates = _certificates(item.get("certificates", []), folder, where)
    federated = item.get("federated_credentials", [])
    if not isinstance(federated, list) or not all(isinstance(f, dict) for f in federated):
        raise ConfigError(f"{where} federated_credentials must be a list of objects")
    credentials = tuple(
        FederatedCredential.from_mapping(f, f"{where} federated credential #{n}")
        for n, f in enumerate(cast("list[dict[str, object]]", federated))
    )
    uri_list = tuple(cast("list[str]", uris))
    return ClientApp(client_id, secret, uri_list, name, certificates, credentials)


_CLIENT_FIELDS = frozenset({
    "client_id", "client_secret", "redirect_uris", "name", "certificates",
    "federated_credentials",
})  # fmt: skip


def _certificates(value: object, folder: Path, where: str) -> tuple[str, ...]:
    """PEM texts, each given inline or as a file path (relative to `folder`)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} certificates must be a list of PEM texts or file paths")
    return tuple(read_certificate(v, folder) for v in cast("list[str]", value))


def read_certificate(text: str, folder: Path | None = None) -> str:
    """A certificate's PEM text: `text` itself when it is PEM, else the file it names."""
    if "-----BEGIN" in text:
        return text
    path = Path(text) if folder is None else folder / text
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read certificate file {path}: {exc}") from None
