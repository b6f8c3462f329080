"""What a Fabric emulator instance is made of: the shared identity options, and Fabric's own."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from fabric_emulator._cloud import FABRIC_CLOUDS
from powerbi_emulator._config import ConfigError, EmulatorConfig

__all__ = ["MAX_PAGE_SIZE", "FabricConfig"]

MAX_PAGE_SIZE = 10_000
_OWN = ("cloud", "page_size", "operation_seconds", "job_seconds", "requests_per_minute")


@dataclasses.dataclass(frozen=True)
class FabricConfig:
    """Options of one Fabric emulator (the command's flags, as data).

    `shared` holds what both emulators take (host, port, clock, clients, faults, tenant,
    managed identities, TLS ...), as a Power BI emulator config; the identity platform built
    from it signs in to both. `cloud` is Fabric's (`public`, `usgov`, `china`).
    `operation_seconds` is how long a long-running operation takes, `job_seconds` a job
    instance, both in emulated seconds; `page_size` the most items a listing page holds;
    `requests_per_minute` the rate over which a caller gets 429 (None: no limit).
    """

    shared: EmulatorConfig = dataclasses.field(default_factory=EmulatorConfig)
    cloud: str = "public"
    page_size: int = 100
    operation_seconds: float = 20.0
    job_seconds: float = 60.0
    requests_per_minute: int | None = None

    @classmethod
    def of(cls, base: FabricConfig | None = None, **options: Any) -> FabricConfig:
        """A config from keyword options, Fabric's own and the shared ones (`time_scale=60`)."""
        base = base or cls()
        own = {k: v for k, v in options.items() if k in _OWN}
        shared = {k: v for k, v in options.items() if k not in _OWN}
        return dataclasses.replace(base, shared=dataclasses.replace(base.shared, **shared), **own)

    @property
    def identity(self) -> EmulatorConfig:
        """The shared options as the Power BI state reads them: its cloud signs in at ours."""
        return dataclasses.replace(self.shared, cloud=FABRIC_CLOUDS[self.cloud].identity_cloud)

    def __post_init__(self) -> None:
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
