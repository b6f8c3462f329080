"""Everything one Fabric emulator holds, wired together.

The identity platform (sign-in, tokens, discovery), fault injection, the request log and the
clock are a Power BI emulator state's own: the same sign-in serves both emulated services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator_core import LongRunningOperations, Pages, RequestRate
from fabric_emulator._api import FabricApi
from fabric_emulator._cloud import FABRIC_CLOUDS
from fabric_emulator._onelake import OneLake
from fabric_emulator._service import FabricService, fabric_swagger
from fabric_emulator._store import IdFactory, Store
from powerbi_emulator._state import EmulatorState

if TYPE_CHECKING:
    from fabric_emulator._config import FabricConfig

__all__ = ["FabricState"]

MINUTE = 60.0


class FabricState:
    """The parts of one Fabric emulator, built from its config.

    `shared` is a Power BI emulator's state made from the same options: its identity platform,
    clock, tokens, faults and request log serve this emulator too (its Power BI store is idle).
    """

    def __init__(self, config: FabricConfig) -> None:
        self.config = config
        self.cloud = FABRIC_CLOUDS[config.cloud]
        self.shared = EmulatorState(config.identity)
        self.clock = self.shared.clock
        self.tokens = self.shared.tokens
        self.identity = self.shared.identity
        self.faults = self.shared.faults
        self.log = self.shared.log
        rate = config.requests_per_minute
        self.service = FabricService(
            config=config,
            cloud=self.cloud,
            clock=self.clock,
            store=Store(self.clock, IdFactory(config.shared.seed)),
            swagger=fabric_swagger(),
            pages=Pages(config.page_size),
            operations=LongRunningOperations(
                self.clock, duration=config.operation_seconds, location="/v1/operations"
            ),
            rate=RequestRate(self.clock, rate, MINUTE) if rate else None,
        )
        self.api = FabricApi(self.service, self.tokens)
        self.onelake = OneLake(self.service, self.tokens)

    def reset(self, *, tokens: bool = False) -> None:
        """Back to the seed data: no operations, faults, log or rate windows; tokens if asked."""
        self.shared.reset(tokens=tokens)
        self.service.store.seed()
        self.service.operations.reset()
        if self.service.rate is not None:
            self.service.rate.reset()

    def summary(self) -> dict[str, object]:
        """The state endpoint's body: what is stored, operations, tokens, faults, clock."""
        return {
            "time": self.clock.isoformat(),
            "time_scale": self.clock.time_scale,
            **self.service.store.summary(),
            "operations": len(self.service.operations),
            "tokens": self.tokens.counts(),
            "faults": [f.to_json() for f in self.faults.list()],
            "requests": len(self.log),
        }

    def close(self) -> None:
        """Stop the worker threads of long-running operations."""
        self.service.operations.close()
