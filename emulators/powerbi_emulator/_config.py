"""What an emulator instance is made of: its clients, limits, faults and clocks."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import re
from typing import TYPE_CHECKING, Literal, cast

from powerbi_emulator._cloud import CLOUDS
from powerbi_emulator._flows._settings import FlowSettings

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "DEFAULT_CLIENT",
    "FAULT_ACTIONS",
    "ClientApp",
    "ConfigError",
    "EmulatorConfig",
    "FaultAction",
    "FaultSpec",
    "PushLimits",
    "load_clients_file",
]


class ConfigError(ValueError):
    """An emulator option, client definition or fault spec is invalid."""


@dataclasses.dataclass(frozen=True)
class ClientApp:
    """An app registration the identity endpoints know.

    `client_secret` None makes a public client (no secret; PKCE required).
    An empty `redirect_uris` accepts any absolute redirect URI, like a permissive registration.
    """

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if not self.client_id or any(c.isspace() for c in self.client_id):
            raise ConfigError(f"client_id must be a non-empty word, got {self.client_id!r}")
        if self.client_secret == "":
            raise ConfigError(f"client {self.client_id!r}: client_secret must not be empty")
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))

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
    flows: FlowSettings = dataclasses.field(default_factory=FlowSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "faults", tuple(self.faults))
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
    `client_secret` (null for a public client), optional `redirect_uris` and `name`.
    """
    try:
        data: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read clients file {path}: {exc}") from None
    if isinstance(data, dict) and "clients" in data:
        data = data["clients"]
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{path}: expected a non-empty list of clients")
    clients: list[ClientApp] = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: client #{index} is not an object")
        item = cast("dict[str, object]", entry)
        unknown = sorted(set(item) - {"client_id", "client_secret", "redirect_uris", "name"})
        if unknown:
            raise ConfigError(f"{path}: client #{index} has unknown field(s) {', '.join(unknown)}")
        client_id, secret = item.get("client_id"), item.get("client_secret")
        uris, name = item.get("redirect_uris", []), item.get("name", "")
        if not isinstance(client_id, str) or not (secret is None or isinstance(secret, str)):
            raise ConfigError(f"{path}: client #{index} needs string client_id and client_secret")
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise ConfigError(f"{path}: client #{index} redirect_uris must be a list of strings")
        if not isinstance(name, str):
            raise ConfigError(f"{path}: client #{index} name must be a string")
        clients.append(ClientApp(client_id, secret, tuple(cast("list[str]", uris)), name))
    return tuple(clients)
