"""Worker for 5. triggerer scale: N DataflowRunTriggers (or the per-poll-client baseline) in one event loop.

    python -m benchmarks._trigger_worker IMPL [--warm]   # IMPL: ours | ours-ungated | baseline

Reads ``AIRFLOW_CONN_AEP_DEFAULT`` from the environment. Prints ``@@{"ready": …}`` once imports are done,
reads one JSON line ``{"run_ids": [...], "poll_interval": s, "timeout": s}``, runs every trigger to its
first event in one asyncio loop (``--warm``: settings and token cached first, so every trigger's first
poll goes out in the same instant, as after a triggerer restart) and prints ``@@{json}`` with CPU
seconds and events. RSS and sockets are sampled from outside by the parent (so sampling costs nothing here).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import resource
import sys
import time
from collections import Counter
from typing import Any


class PerPollClientTrigger:
    """The dbt Cloud provider's trigger pattern, minimal: a new HTTP client (and TLS context) per poll.

    (dbt opens ``aiohttp.ClientSession`` in every ``get_job_details`` call; httpx is used here because it is
    installed with Airflow on both versions.) Token and connection settings come from the same process-wide
    caches as ours, so only the client pattern differs.
    """

    def __init__(self, run_id: str, poll_interval: float, end_time: float) -> None:
        self.run_id = run_id
        self.poll_interval = poll_interval
        self.end_time = end_time

    async def run(self) -> Any:
        import httpx

        from airflow_provider_aep.hooks.aep_async import AdobeExperiencePlatformAsyncHook
        from airflow_provider_aep.utils.runs import is_success, is_terminal, run_status

        hook = AdobeExperiencePlatformAsyncHook("aep_default")
        while True:
            settings = await hook.get_settings()
            token = await hook.get_access_token(settings)
            headers = {
                "Authorization": f"Bearer {token}",
                "x-api-key": settings.client_id,
                "x-gw-ims-org-id": settings.org_id,
                "x-sandbox-name": settings.sandbox_name,
                "Accept": "application/json",
            }
            async with httpx.AsyncClient(verify=True, headers=headers, timeout=settings.timeout) as client:
                resp = await client.get(f"{settings.flow_service_url}/runs/{self.run_id}")
            resp.raise_for_status()
            run = resp.json()["items"][0]
            status = run_status(run)
            if is_terminal(status):
                yield {"status": "success" if is_success(status) else "failed"}
                return
            if time.time() >= self.end_time:
                yield {"status": "timeout"}
                return
            await asyncio.sleep(self.poll_interval)


def _remove_gate(aep_async: Any) -> None:
    """The provider before its request gate: every trigger's request goes straight to httpx's pool.

    httpcore's pool rescans every queued request against every connection on each state change, so N
    requests queued behind 64 connections cost O(N x 64) per step; the provider's semaphore keeps the
    queue short. This reference shows what the gate saves.
    """

    @contextlib.asynccontextmanager
    async def no_gate() -> Any:
        yield

    aep_async.request_slots = no_gate


def main() -> None:
    impl = sys.argv[1]
    warm = "--warm" in sys.argv
    import httpx  # noqa: F401  (both implementations use it; import before the RSS reference point)
    from airflow.triggers.base import TriggerEvent  # noqa: F401

    from airflow_provider_aep.hooks import aep_async
    from airflow_provider_aep.triggers.flow_service import DataflowRunTrigger

    gc.collect()
    print("@@" + json.dumps({"ready": True}), flush=True)
    job = json.loads(sys.stdin.readline())
    run_ids, poll, timeout = job["run_ids"], float(job["poll_interval"]), float(job["timeout"])
    end_time = time.time() + timeout

    if impl == "ours-ungated":
        _remove_gate(aep_async)
    if impl.startswith("ours"):
        triggers: list[Any] = [DataflowRunTrigger(run_id=r, poll_interval=poll, end_time=end_time) for r in run_ids]
    else:
        triggers = [PerPollClientTrigger(r, poll, end_time) for r in run_ids]

    async def drive(trigger: Any) -> str:
        async for event in trigger.run():
            payload = getattr(event, "payload", event)
            return str(payload.get("status"))
        return "none"

    async def loop() -> Counter:
        results = await asyncio.gather(*(drive(t) for t in triggers), return_exceptions=True)
        await aep_async.close_shared_clients()
        return Counter(r if isinstance(r, str) else type(r).__name__ for r in results)

    if warm:  # a triggerer that has been running: connection settings and token already cached

        async def prime() -> None:
            hook = aep_async.AdobeExperiencePlatformAsyncHook("aep_default")
            await hook.get_access_token(await hook.get_settings())

        asyncio.run(prime())
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    events = asyncio.run(loop())
    wall = time.perf_counter() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    print(
        "@@" + json.dumps({"cpu": cpu, "wall": wall, "events": dict(events), "maxrss_kb": usage1.ru_maxrss}), flush=True
    )
    sys.stdin.readline()  # let the parent take a last look at /proc before we exit


if __name__ == "__main__":
    main()
