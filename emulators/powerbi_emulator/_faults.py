"""Fault injection: which request gets which fault, decided by seeded, counted rules."""

from __future__ import annotations

import dataclasses
import random
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from powerbi_emulator._config import FaultSpec

__all__ = ["ActiveFault", "FaultInjector"]

_ERROR_CODES = {
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclasses.dataclass
class ActiveFault:
    """A registered fault and how often it has fired."""

    id: str
    spec: FaultSpec
    rng: random.Random
    pattern: re.Pattern[str]
    fired: int = 0

    @property
    def remaining(self) -> int | None:
        """How many more times it may fire (None: unlimited)."""
        return None if self.spec.count is None else max(0, self.spec.count - self.fired)

    def error_body(self) -> dict[str, object]:
        """The Power BI style body of a `status` fault."""
        code = self.spec.code or _ERROR_CODES.get(self.spec.status, "InjectedFault")
        message = self.spec.message or f"Injected fault {self.id}: HTTP {self.spec.status}."
        return {"error": {"code": code, "message": message}}

    def to_json(self) -> dict[str, object]:
        """The fault as the control API lists it."""
        return {
            "id": self.id,
            **self.spec.to_json(),
            "fired": self.fired,
            "remaining": self.remaining,
        }


class FaultInjector:
    """The registered faults, tried in registration order; the first that fires wins."""

    def __init__(self, seed: int | None) -> None:
        self._seeds = random.Random(seed)  # noqa: S311 - reproducible faults, nothing secret
        self._faults: list[ActiveFault] = []
        self._next = 1

    def add(self, spec: FaultSpec) -> ActiveFault:
        """Register a fault; its RNG uses `spec.seed`, else one drawn from the emulator seed."""
        seed = spec.seed if spec.seed is not None else self._seeds.getrandbits(64)
        fault = ActiveFault(
            f"f{self._next}",
            spec,
            random.Random(seed),  # noqa: S311 - reproducible faults, nothing secret
            re.compile(spec.path),
        )
        self._next += 1
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        """Unregister one fault; False if there is no such fault."""
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        """Unregister every fault."""
        self._faults.clear()

    def list(self) -> list[ActiveFault]:
        """The registered faults, in order."""
        return list(self._faults)

    def pick(self, method: str, raw_path: str) -> ActiveFault | None:
        """The fault that fires for this request, if any (counting it as fired)."""
        for fault in self._faults:
            spec = fault.spec
            if spec.method is not None and spec.method != method:
                continue
            if fault.remaining == 0 or not fault.pattern.search(raw_path):
                continue
            # Draw only for matching requests, so a seed gives the same sequence every run.
            if spec.rate < 1.0 and fault.rng.random() >= spec.rate:
                continue
            fault.fired += 1
            return fault
        return None
