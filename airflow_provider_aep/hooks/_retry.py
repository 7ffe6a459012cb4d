"""When to send an Adobe API request again, and how long to wait first. Shared by hook and trigger."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 30.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryBudget:
    """Counts attempts against ``max_retries`` and an overall deadline."""

    max_retries: int
    deadline_seconds: float
    backoff_base: float = 1.0

    def __post_init__(self) -> None:
        self.retries = 0
        self._deadline = time.monotonic() + self.deadline_seconds

    @property
    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    def next_wait(self, retry_after: float | None = None) -> float | None:
        """Seconds to sleep before the next attempt, or ``None`` when the budget is spent.

        Exponential backoff with full jitter; a server's ``Retry-After`` wins when it is longer.
        """
        if self.retries >= self.max_retries:
            return None
        backoff = min(MAX_BACKOFF_SECONDS, self.backoff_base * (2**self.retries))
        wait = random.uniform(backoff / 2, backoff)
        if retry_after is not None:
            wait = max(wait, retry_after)
        if wait > self.remaining:
            return None
        self.retries += 1
        return wait


def may_resend(method: str, status: int | None, *, sent: bool) -> bool:
    """Whether a failed request may be sent again without risking a second effect.

    ``status`` is None when no response came (network error); ``sent`` says whether any byte
    of the request may have reached the server.
    """
    if status == 429:  # throttled at the gateway: nothing was done
        return True
    if status is None and not sent:
        return True
    if method.upper() not in IDEMPOTENT_METHODS:
        return False
    return status is None or status in RETRYABLE_STATUS


def is_ambiguous(method: str, status: int | None, *, sent: bool) -> bool:
    """A create or update that failed in a way that may still have taken effect."""
    if method.upper() in IDEMPOTENT_METHODS or status == 429:
        return False
    if status is None:
        return sent
    return status >= 500
