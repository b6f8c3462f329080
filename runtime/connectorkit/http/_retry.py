"""The retry policy: which failures are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectorkit.core._errors import (
    AuthError,
    ConnectorError,
    HttpError,
    NetworkError,
    RateLimited,
    TimeoutError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["IDEMPOTENT", "RetryPolicy"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Exponential backoff needs a non-zero start when the caller left Retry Delay at 0.
DEFAULT_BACKOFF_BASE_S = 0.5
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Max Retry Count, Retry Delay, Use Exponential Backoff and Retry On All Errors."""

    max_retries: int = 0
    delay_s: float = 0.0
    exponential: bool = False
    retry_on_all_errors: bool = False
    jitter: Callable[[float, float], float] | None = None  # default: random.uniform

    def retries(self, error: ConnectorError, method: str) -> bool:
        """Whether the failure ``error`` of a ``method`` request is worth another attempt.

        Throttling always is. A failure of the token endpoint is too: a token request does no
        work that repeating could double. A refusal of the credentials never is (the auth flow
        has already renewed the token once).
        """
        if isinstance(error, RateLimited):
            return True
        if isinstance(error, AuthError):
            return False
        if isinstance(error, HttpError):
            return error.endpoint == "token" or (
                error.status is not None and self.retries_status(method, error.status)
            )
        if isinstance(error, NetworkError | TimeoutError):
            return self.retries_transport_error(method, request_sent=bool(error.request_sent))
        return False

    def retries_status(self, method: str, status: int) -> bool:
        """Whether a response with ``status`` to ``method`` is worth another attempt.

        429 always: the service refused before doing anything. 5xx only where repeating the
        request cannot do the work twice (a POST of rows could be committed and then fail), unless
        the caller opted into Retry On All Errors.
        """
        if status == 429:  # noqa: PLR2004
            return True
        if self.retry_on_all_errors:
            return status >= 300  # noqa: PLR2004
        return status >= 500 and method in IDEMPOTENT  # noqa: PLR2004

    def retries_transport_error(self, method: str, *, request_sent: bool) -> bool:
        """Whether a network failure is worth another attempt.

        A request that never left (connection refused, DNS, connect timeout) is always safe to
        send again; one that may have reached the service only when repeating it is harmless.
        """
        if not request_sent or self.retry_on_all_errors:
            return True
        return method in IDEMPOTENT

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``Retry-After`` wins."""
        if retry_after is not None:
            return retry_after
        if not self.exponential:
            return self.delay_s
        base = self.delay_s or DEFAULT_BACKOFF_BASE_S
        ceiling = min(MAX_BACKOFF_S, base * 2.0 ** (retry - 1))
        # Equal jitter: never less than half the step, so retries stay spread but still back off.
        jitter = self.jitter or random.uniform
        return ceiling / 2 + float(jitter(0, ceiling / 2))
