"""The process-wide IMS token cache: its per-event-loop fetch locks must not outlive their loops."""

from __future__ import annotations

import asyncio
import gc

import pytest

from airflow_provider_aep.hooks._tokens import TokenCache, TokenKey

KEY = TokenKey.of("https://ims.example", "client-1", "s3cret", "openid")


def fetch_in_a_new_loop(cache: TokenCache, callers: int) -> list[str]:
    """``callers`` concurrent ``aget`` calls in a fresh event loop (as ``dag.test()`` runs each deferral)."""

    async def fetch() -> tuple[str, float]:
        await asyncio.sleep(0.01)  # the other callers queue on the fetch lock meanwhile
        return "token-value-1", 3600.0

    async def main() -> list[str]:
        return list(await asyncio.gather(*(cache.aget(KEY, fetch) for _ in range(callers))))

    return asyncio.run(main())


@pytest.mark.parametrize("callers", [1, 3], ids=["alone", "contended"])
def test_locks_of_closed_loops_do_not_accumulate(callers):
    cache = TokenCache()
    for _ in range(10):
        cache.clear()  # each loop must fetch, so it takes the lock
        assert fetch_in_a_new_loop(cache, callers) == ["token-value-1"] * callers
        assert cache.fetches == 1  # one fetch per credential per loop, however many callers
    gc.collect()
    assert len(cache._async_locks) == 0


def test_a_live_loop_shares_one_fetch():
    cache = TokenCache()
    calls: list[int] = []

    async def fetch() -> tuple[str, float]:
        calls.append(1)
        await asyncio.sleep(0.01)
        return "token-value-2", 3600.0

    async def main() -> list[str]:
        first = await asyncio.gather(*(cache.aget(KEY, fetch) for _ in range(5)))
        cache.invalidate(KEY, "token-value-2")  # Platform said 401: the next callers fetch again, once
        second = await asyncio.gather(*(cache.aget(KEY, fetch) for _ in range(5)))
        return [*first, *second]

    assert asyncio.run(main()) == ["token-value-2"] * 10
    assert len(calls) == 2
