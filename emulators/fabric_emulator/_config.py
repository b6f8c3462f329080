"""What a Fabric emulator instance is made of: the shared identity options, and Fabric's own."""

from __future__ import annotations

import dataclasses
import math

from fabric_emulator._cloud import FABRIC_CLOUDS
from powerbi_emulator._config import (
    DEFAULT_CLIENT,
    ClientApp,
    ConfigError,
    EmulatorConfig,
    FaultSpec,
)

__all__ = ["MAX_PAGE_SIZE", "FabricConfig"]

MAX_PAGE_SIZE = 10_000


@dataclasses.dataclass(frozen=True)
class FabricConfig:
    """Options of one Fabric emulator (the command's flags, as data).

    Clients, faults, tenant, token lifetime and time scale mean what they mean for the Power BI
    emulator (the same identity platform signs in to both). `operation_seconds` is how long a
    long-running operation takes, `job_seconds` a job instance, both in emulated seconds;
    `page_size` the most items a listing page holds; `requests_per_minute` the rate over which
    a caller gets 429 (None: no limit).
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
    cloud: str = "public"
    page_size: int = 100
    operation_seconds: float = 20.0
    job_seconds: float = 60.0
    requests_per_minute: int | None = None

    @property
    def identity(self) -> EmulatorConfig:
        """The options of the shared identity platform, faults and log (a Power BI config).

        Its cloud is the Power BI cloud that signs in at the same host.
        """
        return EmulatorConfig(
            host=self.host,
            port=self.port,
            time_scale=self.time_scale,
            latency_ms=self.latency_ms,
            token_lifetime=self.token_lifetime,
            clients=self.clients,
            faults=self.faults,
            seed=self.seed,
            tenant=self.tenant,
            cloud=FABRIC_CLOUDS[self.cloud].identity_cloud,
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "faults", tuple(self.faults))
        _ = self.identity  # the options both emulators share are checked where they are defined
        if self.cloud not in FABRIC_CLOUDS:
            raise ConfigError(
                f"cloud must be one of {', '.join(FABRIC_CLOUDS)}, got {self.cloud!r}"
            )
        for name in ("operation_seconds", "job_seconds"):
            value = getattr(self, name)
            if not value >= 0 or math.isinf(value):
                raise ConfigError(f"{name} must be a finite number >= 0")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if self.requests_per_minute is not None and self.requests_per_minute < 1:
            raise ConfigError("requests_per_minute must be >= 1 (omit it for no limit)")
