"""Process-wide cache of Adobe IMS access tokens, shared by every hook and trigger."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_aep._compat import amask_secret, mask_secret

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# Renew this long before IMS says the token expires (capped to a tenth of its lifetime).
RENEW_MARGIN_SECONDS = 300.0


@dataclass(frozen=True)
class TokenKey:
    """Identity of a credential. The secret is hashed, so a wrong secret never shares a right one's token."""

    ims_url: str
    client_id: str
    secret_sha256: str = field(repr=False)
    scopes: str

    @classmethod
    def of(cls, ims_url: str, client_id: str, client_secret: str, scopes: str) -> TokenKey:
        digest = hashlib.sha256(client_secret.encode("utf-8")).hexdigest()
        return cls(ims_url, client_id, digest, scopes)


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # time.monotonic() clock
    renew_at: float

    @classmethod
    def issued(cls, value: str, expires_in: float) -> AccessToken:
        now = time.monotonic()
        margin = min(RENEW_MARGIN_SECONDS, max(expires_in, 0.0) * 0.1)
        return cls(value, now + expires_in, now + expires_in - margin)

    @property
    def fresh(self) -> bool:
        return time.monotonic() < self.renew_at


class _FetchLock:
    """An event loop's lock for one credential, and how many of its coroutines hold or await it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class TokenCache:
    """Thread-safe and asyncio-safe; fetches at most one token per credential at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[TokenKey, AccessToken] = {}
        self._fetch_locks: dict[TokenKey, threading.Lock] = {}
        # Keyed by the loop itself, not id(loop): a dead loop's entry goes, and a new loop that
        # reuses its id never gets its locks. A lock is dropped as soon as nobody uses it: once
        # contended, an asyncio.Lock refers to its loop, which would keep the weak key alive.
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[TokenKey, _FetchLock]] = (
            weakref.WeakKeyDictionary()
        )
        self.fetches = 0  # tokens obtained from IMS by this process

    def _fresh(self, key: TokenKey) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
        return token.value if token is not None and token.fresh else None

    def _store(self, key: TokenKey, value: str, expires_in: float) -> str:
        """Remember a token masked by the caller (``mask_secret``, or ``amask_secret`` in a coroutine)."""
        with self._lock:
            self._tokens[key] = AccessToken.issued(value, expires_in)
            self.fetches += 1
        return value

    def get(self, key: TokenKey, fetch: Callable[[], tuple[str, float]]) -> str:
        """Return a fresh token, calling ``fetch() -> (token, expires_in)`` only when needed."""
        value = self._fresh(key)
        if value is not None:
            return value
        with self._lock:
            fetch_lock = self._fetch_locks.setdefault(key, threading.Lock())
        with fetch_lock:
            value = self._fresh(key)
            if value is not None:
                return value
            token, expires_in = fetch()
            mask_secret(token)
            return self._store(key, token, expires_in)

    async def aget(self, key: TokenKey, fetch: Callable[[], Awaitable[tuple[str, float]]]) -> str:
        """Async twin of :meth:`get`, for triggers: one fetch per credential per event loop."""
        value = self._fresh(key)
        if value is not None:
            return value
        loop = asyncio.get_running_loop()
        with self._lock:
            per_loop = self._async_locks.setdefault(loop, {})
            fetch_lock = per_loop.get(key)
            if fetch_lock is None:
                fetch_lock = per_loop[key] = _FetchLock()
            fetch_lock.users += 1
        try:
            async with fetch_lock.lock:
                value = self._fresh(key)
                if value is not None:
                    return value
                token, expires_in = await fetch()
                await amask_secret(token)
                return self._store(key, token, expires_in)
        finally:
            with self._lock:
                fetch_lock.users -= 1
                if fetch_lock.users == 0 and per_loop.get(key) is fetch_lock:
                    del per_loop[key]

    def invalidate(self, key: TokenKey, value: str) -> None:
        """Forget ``value`` after Platform rejected it (401), unless another caller already renewed it."""
        with self._lock:
            current = self._tokens.get(key)
            if current is not None and current.value == value:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self.fetches = 0


TOKEN_CACHE = TokenCache()
