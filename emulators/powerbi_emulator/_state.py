"""Everything one emulator instance holds, wired together, plus its request log."""

from __future__ import annotations

import collections
import itertools
import secrets
from typing import TYPE_CHECKING, cast

from powerbi_emulator._api import PowerBIApi
from powerbi_emulator._assertions import AssertionVerifier
from powerbi_emulator._clientauth import ClientAuthenticator
from powerbi_emulator._clock import EmulatorClock
from powerbi_emulator._cloud import CLOUDS
from powerbi_emulator._context import Service
from powerbi_emulator._credentials import AppRegistry
from powerbi_emulator._discovery import Discovery
from powerbi_emulator._faults import FaultInjector
from powerbi_emulator._flows._state import Flows
from powerbi_emulator._identity import Directory, TokenService
from powerbi_emulator._issuer import TestIssuer
from powerbi_emulator._limits import PushThrottle
from powerbi_emulator._login import LoginEndpoints
from powerbi_emulator._managed import ManagedIdentityEndpoints
from powerbi_emulator._platform import IdentityPlatform
from powerbi_emulator._registration import IdentityControl
from powerbi_emulator._store import IdFactory, Store

if TYPE_CHECKING:
    from powerbi_emulator._config import EmulatorConfig

__all__ = ["EmulatorState", "RequestLog"]

SECRET_KEYS = frozenset({
    "access_token", "refresh_token", "code", "code_verifier", "client_secret",
    "client_assertion", "assertion", "password",
})  # fmt: skip


class RequestLog:
    """The most recent requests received (never a token, secret or code)."""

    def __init__(self, size: int = 2_000) -> None:
        self._entries: collections.deque[dict[str, object]] = collections.deque(maxlen=size)
        self._seq = itertools.count(1)

    def record(self, entry: dict[str, object]) -> None:
        """Append an entry, numbering it."""
        query = entry.get("query")
        if isinstance(query, dict):
            entry["query"] = {k: "***" if k in SECRET_KEYS else v for k, v in query.items()}
        self._entries.append({"seq": next(self._seq), **entry})

    def entries(self, since: int = 0, kind: str | None = None) -> list[dict[str, object]]:
        """Entries with a sequence number above `since`, optionally of one kind."""
        return [
            entry
            for entry in self._entries
            if cast("int", entry["seq"]) > since and kind in {None, entry.get("kind")}
        ]

    def clear(self) -> None:
        """Forget every entry (numbering continues)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class EmulatorState:
    """The parts of one emulator, built from its config."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = EmulatorClock(config.time_scale)
        directory = Directory(config.tenant, CLOUDS[config.cloud])
        self.tokens = TokenService(
            self.clock,
            config.token_lifetime,
            directory,
            single_use_refresh=config.single_use_refresh_tokens,
        )
        ids, store = IdFactory(config.seed), Store(self.clock)
        flows = Flows(config.flows, self.clock, ids, store, directory.tenant_id)
        self.service = Service(
            config, self.clock, ids, store, PushThrottle(config.limits, self.clock), flows
        )
        self.apps = AppRegistry(config.clients)
        self.issuer = TestIssuer(config.issuer_subject)
        verifier = AssertionVerifier(self.issuer, self.tokens.signer)
        clients = ClientAuthenticator(self.apps, verifier, config.tenant)
        self.login = LoginEndpoints(config, self.clock, self.tokens, clients)
        self.discovery = Discovery(self.tokens, self.login, self.clock)
        header = config.identity_header or secrets.token_urlsafe(24)
        managed = ManagedIdentityEndpoints(config, self.tokens, header)
        self.managed = managed
        self.identity = IdentityPlatform(self.login, self.discovery, managed)
        self.identity_control = IdentityControl(self.apps, self.issuer, managed)
        self.api = PowerBIApi(self.service, self.tokens)
        self.faults = FaultInjector(config.seed)
        for spec in config.faults:
            self.faults.add(spec)
        self.log = RequestLog()

    def identity_endpoints(self, url: str) -> dict[str, str]:
        """Where managed identities and the test issuer answer, as announced at start."""
        issuer = self.issuer.url(url)
        return {
            "imds_url": url,
            "identity_endpoint": f"{url}/msi/token",
            "identity_header": self.managed.identity_header,
            "issuer": issuer,
            "oidc_request_url": f"{issuer}/token?api-version=2.0",
            "oidc_request_token": self.issuer.request_token,
        }

    def reset(self, *, tokens: bool = False) -> None:
        """Back to the seed data, no faults, empty log and rate windows; tokens too if asked."""
        self.service.store.seed()
        self.service.throttle.reset()
        self.service.flows.reset()
        self.faults.clear()
        self.log.clear()
        if tokens:
            self.tokens.codes.clear()
            self.tokens.access.clear()
            self.tokens.refresh.clear()

    def summary(self) -> dict[str, object]:
        """The state endpoint's body: what is stored, tokens counted, faults, clock."""
        store = self.service.store.summary()
        datasets = store["datasets"]
        if isinstance(datasets, list):
            for dataset in datasets:
                dataset["throttle"] = self.service.throttle.snapshot(str(dataset["id"]))
        return {
            "time": self.clock.isoformat(),
            "time_scale": self.clock.time_scale,
            **store,
            "flows": self.service.flows.to_json(),
            "tokens": self.tokens.counts(),
            "faults": [f.to_json() for f in self.faults.list()],
            "requests": len(self.log),
        }
