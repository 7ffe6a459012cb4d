"""Bounded load on loopback: 200 concurrent base-connection creations through the hook and 500 deferred
sensors (triggers) in one event loop, with about 10% of the requests answered 429 or 503.

Run with ``AEP_RUN_LOAD=1`` (CI sets it); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.reliability.support import FLOW, REPORT, reset_provider_caches, set_connections

pytestmark = [
    pytest.mark.load,
    pytest.mark.skipif(os.environ.get("AEP_RUN_LOAD") != "1", reason="load test: set AEP_RUN_LOAD=1"),
]

BQ_SPEC_ID = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
CREATIONS = 200
TRIGGERS = 500


def spread_faults(emu: Any, method: str, path: str, *, every: int, statuses: list[int]) -> None:
    """One single-shot fault per ``every`` matching requests (each fault skips the ones before it)."""
    for number, status in enumerate(statuses):
        extra = {"retry_after": 1} if status == 429 else {}
        emu.inject_fault(method, path, status=status, times=1, skip=every * number + every // 2, **extra)


def _find_one(hook: Any, name: str) -> dict[str, Any] | None:
    matches = hook.find_connections(name=name, connection_spec_id=BQ_SPEC_ID)
    return min(matches, key=lambda c: c.get("createdAt", 0)) if matches else None


def test_200_concurrent_base_connection_creations(
    aep_emulator: Any, monkeypatch: pytest.MonkeyPatch, service_account_key: dict
) -> None:
    from airflow_provider_aep.hooks._tokens import TOKEN_CACHE
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    emu = aep_emulator
    set_connections(monkeypatch, emu, service_account_key, retry_deadline=60)
    reset_provider_caches()
    key_b64 = base64.b64encode(json.dumps(service_account_key).encode()).decode()
    # ~400 requests (a lookup and a create per connection): 40 faults = 10%, spread over the run.
    spread_faults(emu, "POST", f"{FLOW}/connections", every=10, statuses=[429] * 10 + [503] * 10)
    spread_faults(emu, "GET", f"{FLOW}/connections", every=10, statuses=[503] * 20)

    def create(number: int) -> str:
        hook = AdobeExperiencePlatformHook()  # one hook per task, as in a real DAG
        name = f"load-bigquery-{number:03d}"
        body = {
            "name": name,
            "auth": {
                "specName": "Service Authentication",
                "params": {"projectId": "acme-crm-prod", "keyFileContent": key_b64},
            },
            "connectionSpec": {"id": BQ_SPEC_ID, "version": "1.0"},
        }
        resource, _ = hook.create_once(
            kind="base connection",
            name=name,
            create=lambda: hook.create_connection(body),
            find=lambda: _find_one(hook, name),
        )
        return resource["id"]

    # One thread per creation, all released together: 200 creations really in flight at once.
    ready = threading.Barrier(CREATIONS)
    in_flight = 0
    most_in_flight = 0
    count_lock = threading.Lock()

    def create_together(number: int) -> str:
        nonlocal in_flight, most_in_flight
        ready.wait(timeout=60)
        with count_lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        try:
            return create(number)
        finally:
            with count_lock:
                in_flight -= 1

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CREATIONS) as pool:
        ids = list(pool.map(create_together, range(CREATIONS)))
    seconds = time.monotonic() - started
    connections = emu.resources("connections")
    faulted = len([e for e in emu.journal if e.fault])
    REPORT.load.append(
        {
            "test": f"concurrent base-connection creations ({CREATIONS} threads, {most_in_flight} in flight at once, "
            "hook.create_once)",
            "size": f"{CREATIONS} connections, {len(emu.journal)} requests, {faulted} answered 429/503",
            "seconds": seconds,
            "result": f"{len(connections)} connections, {emu.token_requests} IMS token(s)",
        }
    )
    assert len(set(ids)) == CREATIONS
    assert most_in_flight >= CREATIONS * 0.9, most_in_flight  # the barrier released them together
    assert sorted(c["name"] for c in connections) == [f"load-bigquery-{n:03d}" for n in range(CREATIONS)]
    assert faulted == 40
    assert emu.token_requests == 1 and TOKEN_CACHE.fetches == 1
    assert seconds < 120


def test_500_deferred_sensors_in_one_event_loop(
    aep_emulator: Any, monkeypatch: pytest.MonkeyPatch, service_account_key: dict
) -> None:
    from airflow_provider_aep.hooks._tokens import TOKEN_CACHE
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook
    from airflow_provider_aep.hooks.aep_async import close_shared_clients
    from airflow_provider_aep.sensors.flow_service import finish_trigger_event
    from airflow_provider_aep.triggers.flow_service import DataflowRunTrigger
    from tests.reliability.support import Journey

    emu = aep_emulator
    set_connections(monkeypatch, emu, service_account_key, retry_deadline=60)
    reset_provider_caches()
    # The runs stay in progress until the test moves the emulator's clock: however slowly this machine
    # creates the 500 runs, every trigger then finds its run still going and polls it more than once.
    run_seconds = 3600.0
    emu.set_run_plan(duration=run_seconds)
    flow_id = Journey().flow()
    hook = AdobeExperiencePlatformHook()

    def start_run(number: int) -> str:
        window = 1_767_000_000 + number * 3600
        return hook.create_run(
            {
                "flowId": flow_id,
                "params": {"startTime": window, "windowStartTime": window, "windowEndTime": window + 3600},
            }
        )["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        run_ids = list(pool.map(start_run, range(TRIGGERS)))
    assert len(set(run_ids)) == TRIGGERS
    reset_provider_caches()  # the triggerer is another process: it starts with no token
    tokens_before = emu.token_requests
    emu.clear_journal()
    # A few polls per trigger (0.5 s apart): one GET in ten is answered 429 or 503.
    spread_faults(emu, "GET", f"{FLOW}/runs/*", every=10, statuses=[429, 503] * 125)

    async def finish_runs_after_two_polls_each() -> None:
        """Let every run end once the triggers have sent two polls each, on average."""
        while emu.request_count < 2 * TRIGGERS:
            await asyncio.sleep(0.1)
        emu.advance_clock(run_seconds)

    async def watch_all() -> list[dict[str, Any]]:
        async def first(run_id: str) -> dict[str, Any]:
            trigger = DataflowRunTrigger(run_id=run_id, poll_interval=0.5, end_time=time.time() + 120)
            async for event in trigger.run():
                return event.payload
            raise AssertionError("no event")

        finisher = asyncio.create_task(finish_runs_after_two_polls_each())
        try:
            return await asyncio.wait_for(asyncio.gather(*(first(r) for r in run_ids)), 150)
        finally:
            finisher.cancel()
            await close_shared_clients()

    started = time.monotonic()
    events = asyncio.run(watch_all())
    seconds = time.monotonic() - started
    journal = emu.journal
    faulted = len([e for e in journal if e.fault])
    statuses = sorted({e["status"] for e in events})
    REPORT.load.append(
        {
            "test": "deferred sensors: DataflowRunTrigger instances in one event loop",
            "size": f"{TRIGGERS} triggers, {len(journal)} requests, {faulted} answered 429/503",
            "seconds": seconds,
            "result": f"events {statuses}, {emu.token_requests - tokens_before} IMS token(s)",
        }
    )
    assert statuses == ["success"], [e for e in events if e["status"] != "success"][:3]
    assert sorted(e["run"]["run_id"] for e in events) == sorted(run_ids)
    for event in events:
        finish_trigger_event(event, 600, _NullLog())  # what the sensor's execute_complete does
    polls = len([e for e in journal if e.method == "GET"])
    assert polls >= 2 * TRIGGERS and faulted >= polls // 12, (polls, faulted)  # ~10% throttled or failed
    assert emu.token_requests - tokens_before == 1 and TOKEN_CACHE.fetches == 1
    assert seconds < 150


class _NullLog:
    def info(self, *args: Any) -> None:
        pass
