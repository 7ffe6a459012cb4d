"""DataflowRunTrigger, run as the triggerer runs it: its ``run()`` generator in an asyncio loop.

No Airflow database: the connection comes from ``AIRFLOW_CONN_AEP_DEFAULT``; runs live in the emulator.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from typing import Any

import pytest

from airflow_provider_aep._compat import AIRFLOW_V3
from airflow_provider_aep.hooks import aep_async
from airflow_provider_aep.hooks._tokens import TOKEN_CACHE
from airflow_provider_aep.triggers.flow_service import DataflowRunTrigger
from tests.flow_service.support import FLOW, make_flow

WINDOW = 1767139200


@pytest.fixture
def flow(aep, service_account_key) -> dict[str, str]:
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    return make_flow(AdobeExperiencePlatformHook(), service_account_key)


def start_run(flow: dict[str, str], n: int = 0) -> str:
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    start = WINDOW + n * 3600
    body = {
        "flowId": flow["flow"],
        "params": {"startTime": start, "windowStartTime": start, "windowEndTime": start + 3600},
    }
    return AdobeExperiencePlatformHook().create_run(body)["id"]


async def first_event(trigger: DataflowRunTrigger, timeout: float = 30.0) -> dict[str, Any]:
    """The first event of the trigger; the generator must end right after it."""
    gen = trigger.run()
    event = await asyncio.wait_for(anext(gen), timeout)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(gen), 5)
    return event.payload


def fire(trigger: DataflowRunTrigger, timeout: float = 30.0) -> tuple[dict[str, Any], float]:
    """Run the trigger in a fresh event loop (as ``dag.test()`` does); return (payload, seconds)."""

    async def main() -> dict[str, Any]:
        try:
            return await first_event(trigger, timeout)
        finally:
            await aep_async.close_shared_clients()

    started = time.monotonic()
    payload = asyncio.run(main())
    return payload, time.monotonic() - started


def run_gets(aep, run_id: str) -> list[Any]:
    return aep.requests("GET", f"{FLOW}/runs/{run_id}")


# ----------------------------------------------------------------------------------- serialisation
@pytest.mark.parametrize(
    "kwargs",
    [
        {"run_id": "r-1", "poll_interval": 5, "end_time": 1767225600.5},
        {"flow_id": "f-1", "aep_conn_id": "aep_prod"},
        {"run_id": "r-1", "flow_id": "f-1", "poll_interval": 0.25, "end_time": None},
    ],
)
def test_serialize_round_trip(kwargs):
    trigger = DataflowRunTrigger(**kwargs)
    classpath, data = trigger.serialize()
    assert classpath == "airflow_provider_aep.triggers.flow_service.DataflowRunTrigger"
    # Airflow 3.2+ stores trigger kwargs as JSON: they must survive a JSON round trip unchanged.
    assert json.loads(json.dumps(data)) == data
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(data)))
    assert again.serialize() == (classpath, data)
    assert data["poll_interval"] == float(kwargs.get("poll_interval", 30.0))


def test_needs_a_run_or_a_flow():
    with pytest.raises(ValueError, match="run_id or flow_id"):
        DataflowRunTrigger()


# ----------------------------------------------------------------------------------- outcomes
def test_success(aep, flow):
    aep.set_run_plan(duration=0.4, input_records=40, failed_records=2)
    run_id = start_run(flow)
    payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success"
    run = payload["run"]
    assert run["run_id"] == run_id and run["flow_id"] == flow["flow"]
    assert (run["input_records"], run["output_records"], run["failed_records"]) == (40, 38, 2)
    assert run["errors"] == []
    json.dumps(payload)  # events are JSON
    assert len(run_gets(aep, run_id)) >= 2  # it polled while the run was in progress
    assert elapsed < 10


def test_success_latest_run_of_flow(aep, flow):
    aep.set_run_plan(duration=0.2)
    start_run(flow, 0)
    latest = start_run(flow, 1)
    payload, _ = fire(DataflowRunTrigger(flow_id=flow["flow"], poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success"
    assert payload["run"]["run_id"] == latest
    listed = aep.requests("GET", f"{FLOW}/runs")
    assert listed and listed[0].query["property"] == [f"flowId=={flow['flow']}"]


def test_failure_carries_the_error_codes(aep, flow):
    errors = [
        {"code": "CONNECTOR-1001-500", "message": "Copy from source failed: BigQuery job failed"},
        {"code": "CONNECTOR-2001-500", "message": "Processing into Platform failed"},
    ]
    aep.set_run_plan(outcome="failed", duration=0.2, errors=errors)
    run_id = start_run(flow)
    payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "failed"
    assert [e["code"] for e in payload["run"]["errors"]] == ["CONNECTOR-1001-500", "CONNECTOR-2001-500"]
    assert payload["run"]["errors"][0]["message"] == "Copy from source failed: BigQuery job failed"
    assert payload["run"]["status"] == "failed"


def test_timeout_event(aep, flow):
    aep.set_run_plan(duration=600)
    run_id = start_run(flow)
    payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.2, end_time=time.time() + 0.6))
    assert payload["status"] == "timeout"
    assert run_id in payload["message"] and "still running" in payload["message"]
    assert payload["run"]["status"] == "inprogress"
    assert 0.5 <= elapsed < 5


def test_end_time_in_the_past_still_reads_the_run_once(aep, flow):
    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    time.sleep(0.05)
    payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=5, end_time=time.time() - 10))
    assert payload["status"] == "success"


# ----------------------------------------------------------------------------------- Adobe trouble
def test_429_retry_after_is_honoured(aep, flow):
    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=429, retry_after=1.2, times=1)
    payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success"
    assert elapsed >= 1.2
    assert [e.status for e in run_gets(aep, run_id)] == [429, 200]


def test_transient_5xx_is_retried(aep, flow):
    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=503, times=1)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=502, times=1)
    payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success"
    assert [e.status for e in run_gets(aep, run_id)] == [503, 502, 200]


def test_dropped_connection_is_retried(aep, flow):
    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", drop=True, times=1)
    payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success"


def test_expired_token_is_renewed(aep, flow):
    aep.set_run_plan(duration=0.5)
    run_id = start_run(flow)
    before = aep.token_requests

    async def main():
        gen = DataflowRunTrigger(run_id=run_id, poll_interval=0.2, end_time=time.time() + 30).run()
        task = asyncio.ensure_future(anext(gen))
        await asyncio.sleep(0.3)
        aep.expire_tokens()
        event = await asyncio.wait_for(task, 20)
        await aep_async.close_shared_clients()
        return event.payload

    assert asyncio.run(main())["status"] == "success"
    assert 401 in [e.status for e in run_gets(aep, run_id)]
    assert aep.token_requests - before == 1


def test_deleted_run_gives_a_readable_error(aep, flow):
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    aep.set_run_plan(duration=600)
    run_id = start_run(flow)
    AdobeExperiencePlatformHook().delete_resource("flows", flow["flow"])  # deletes its runs too
    payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "error"
    message = payload["message"]
    assert message.startswith(f"Cannot read dataflow run {run_id} (deleted?): ")
    assert "HTTP 404" in message and "1101-404" in message
    assert elapsed < 5  # not retried


def test_deleted_flow_gives_a_readable_error(aep, flow):
    """Watching the latest run of a flow that no longer exists must not wait until the timeout."""
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    AdobeExperiencePlatformHook().delete_resource("flows", flow["flow"])
    payload, elapsed = fire(DataflowRunTrigger(flow_id=flow["flow"], poll_interval=0.1, end_time=time.time() + 20))
    assert payload["status"] == "error", payload
    assert payload["message"].startswith(f"Cannot read dataflow latest run of flow {flow['flow']} (deleted?): ")
    assert "HTTP 404" in payload["message"]
    assert elapsed < 5


def test_flow_without_runs_yet_keeps_waiting(aep, flow):
    payload, _ = fire(DataflowRunTrigger(flow_id=flow["flow"], poll_interval=0.1, end_time=time.time() + 0.5))
    assert payload["status"] == "timeout"
    assert payload["message"].endswith("not started (the flow has no run yet) at the timeout.")
    assert aep.requests("GET", f"{FLOW}/flows/{flow['flow']}")  # it checked the flow still exists


def test_unknown_connection_gives_an_error_event(aep, flow):
    payload, _ = fire(DataflowRunTrigger(run_id="r-1", aep_conn_id="no_such_conn", poll_interval=0.1))
    assert payload["status"] == "error"
    assert "no_such_conn" in payload["message"]


def test_permission_error_is_not_retried(aep, flow):
    aep.set_run_plan(duration=600)
    run_id = start_run(flow)
    aep.inject_fault("GET", f"{FLOW}/runs/*", status=403, times=None)
    payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "error"
    assert "HTTP 403" in payload["message"] and "deleted?" not in payload["message"]
    assert len(run_gets(aep, run_id)) == 1
    assert elapsed < 5


# ----------------------------------------------------------------------------------- outages longer than a retry budget
def small_retry_budget(aep, monkeypatch) -> None:
    """Each hook call gives up after one retry: an outage of more than two requests outlasts it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep.airflow_connection_json(max_retries=1, backoff_base=0.01, retry_deadline=30)
    )


def outage_warnings(capfd, caplog) -> list[str]:
    """The trigger's outage warnings (Airflow 3 prints structlog to stdout; Airflow 2 logs to caplog)."""
    printed = [line for line in capfd.readouterr().out.splitlines() if "[warning" in line]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return [line for line in printed + logged if "Cannot read dataflow" in line and "checking again" in line]


@pytest.mark.parametrize(
    "fault", [{"status": 503}, {"status": 500}, {"status": 429}, {"drop": True}], ids=["503", "500", "429", "dropped"]
)
def test_outage_longer_than_the_retry_budget_keeps_waiting(aep, flow, monkeypatch, capfd, caplog, fault):
    """A short Adobe outage must not kill a wait whose end_time is far away."""
    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    small_retry_budget(aep, monkeypatch)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", times=4, **fault)
    with caplog.at_level(logging.WARNING):
        payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success", payload
    assert len(run_gets(aep, run_id)) == 5  # two polls gave up after two requests each, the third read the run
    warnings = outage_warnings(capfd, caplog)
    assert len(warnings) == 2, warnings
    assert run_id in warnings[0]
    assert elapsed < 10


def test_ims_outage_keeps_waiting(aep, flow, monkeypatch, capfd, caplog):
    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    small_retry_budget(aep, monkeypatch)
    TOKEN_CACHE.clear()
    aep.clear_journal()
    aep.inject_fault("POST", "/ims/token/v3", status=503, times=3)
    with caplog.at_level(logging.WARNING):
        payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success", payload
    assert len(aep.requests("POST", "/ims/token/v3")) == 4
    assert len(outage_warnings(capfd, caplog)) == 1


def test_outage_until_the_end_time_gives_a_timeout(aep, flow, monkeypatch):
    aep.set_run_plan(duration=600)
    run_id = start_run(flow)
    small_retry_budget(aep, monkeypatch)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=503, skip=1, times=None)  # read once, then down
    payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.2, end_time=time.time() + 1.0))
    assert payload["status"] == "timeout", payload
    assert payload["run"]["status"] == "inprogress"  # the last run it read
    assert run_id in payload["message"] and "HTTP 503" in payload["message"]
    assert len(run_gets(aep, run_id)) >= 5
    assert 0.9 <= elapsed < 6


def test_permanent_error_after_an_outage_is_not_retried(aep, flow, monkeypatch):
    aep.set_run_plan(duration=600)
    run_id = start_run(flow)
    small_retry_budget(aep, monkeypatch)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=503, times=2)
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=403, times=None)
    payload, elapsed = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "error", payload
    assert "HTTP 403" in payload["message"]
    assert [e.status for e in run_gets(aep, run_id)] == [503, 503, 403]
    assert elapsed < 5


@pytest.mark.parametrize(("method", "field"), [("get_run", "run_id"), ("get_flow", "flow_id")])
def test_async_reads_name_the_id_that_would_change_the_path(aep, method, field):
    """Like the sync hook: the error names the argument, and nothing is sent."""
    from airflow_provider_aep.exceptions import AepInputError
    from airflow_provider_aep.hooks.aep_async import AdobeExperiencePlatformAsyncHook

    async def main() -> Any:
        try:
            return await getattr(AdobeExperiencePlatformAsyncHook(), method)("../flows/f-1")
        finally:
            await aep_async.close_shared_clients()

    with pytest.raises(AepInputError, match=rf"^{field}: '../flows/f-1' is not an Adobe id"):
        asyncio.run(main())
    assert aep.journal == []


# ----------------------------------------------------------------------------------- flow ids in filters
@pytest.mark.parametrize(
    "flow_id",
    ["f-1,f-2", 'f-1"', "f-1/runs", "f-1?limit=9", "f-1#x", "f 1", "f-1\n", "\tf-1", "", "   "],
    ids=["comma", "quote", "slash", "question-mark", "hash", "space", "newline", "tab", "empty", "blank"],
)
def test_latest_run_refuses_a_flow_id_that_breaks_the_filter(aep, flow_id):
    """``property=flowId==a,b`` means "either flow" to Adobe, and a quote breaks the filter."""
    from airflow_provider_aep.exceptions import AepInputError
    from airflow_provider_aep.hooks.aep_async import AdobeExperiencePlatformAsyncHook

    async def main() -> Any:
        try:
            return await AdobeExperiencePlatformAsyncHook().get_latest_run(flow_id)
        finally:
            await aep_async.close_shared_clients()

    with pytest.raises(AepInputError, match=r"^flow_id: ") as caught:
        asyncio.run(main())
    assert repr(flow_id) in str(caught.value)
    assert aep.requests("GET", f"{FLOW}/runs") == []


def test_flow_id_with_a_comma_gives_an_error_event(aep, flow):
    """Two flow ids joined by a comma must not watch the latest run of either."""
    aep.set_run_plan(duration=0.0)
    start_run(flow)
    flow_id = f"{flow['flow']},00000000-0000-0000-0000-000000000000"
    payload, elapsed = fire(DataflowRunTrigger(flow_id=flow_id, poll_interval=0.1, end_time=time.time() + 5))
    assert payload["status"] == "error", payload
    assert payload["message"].startswith(f"Cannot read dataflow latest run of flow {flow_id}: flow_id: ")
    assert "','" in payload["message"]
    assert aep.requests("GET", f"{FLOW}/runs") == []
    assert elapsed < 5


# ----------------------------------------------------------------------------------- the triggerer's loop
def test_many_triggers_share_one_client_and_one_token(aep, flow, monkeypatch):
    import httpx

    aep.set_run_plan(duration=0.5)
    run_ids = [start_run(flow, n) for n in range(50)]
    TOKEN_CACHE.clear()  # the sync hook above cached a token; the triggers must fetch their own, once
    tokens_before = aep.token_requests
    aep.clear_journal()
    created: list[Any] = []

    class CountingClient(httpx.AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            created.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", CountingClient)

    async def main():
        triggers = [DataflowRunTrigger(run_id=r, poll_interval=0.2, end_time=time.time() + 60) for r in run_ids]
        try:
            return await asyncio.wait_for(asyncio.gather(*(first_event(t) for t in triggers)), 60)
        finally:
            await aep_async.close_shared_clients()

    payloads = asyncio.run(main())
    assert [p["status"] for p in payloads] == ["success"] * 50
    assert [p["run"]["run_id"] for p in payloads] == run_ids
    assert len(created) == 1
    assert aep.token_requests - tokens_before == 1
    assert len(aep.requests("POST", "/ims/token/v3")) == 1
    assert {e.headers["user-agent"].split()[-1].split("/")[0] for e in aep.requests("GET")} == {"httpx"}


def test_run_never_uses_sync_http(aep, flow, monkeypatch):
    import requests

    aep.set_run_plan(duration=0.3)
    run_id = start_run(flow)
    TOKEN_CACHE.clear()  # make the trigger fetch its own token too
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=429, retry_after=0.2, times=1)
    calls: list[str] = []

    def forbidden(self, method, url, *args, **kwargs):
        calls.append(f"{method} {url}")
        raise AssertionError(f"sync HTTP from the trigger: {method} {url}")

    monkeypatch.setattr(requests.Session, "request", forbidden)
    monkeypatch.setattr(requests.Session, "send", forbidden)
    payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert calls == []
    assert payload["status"] == "success", payload


def test_waiting_never_blocks_the_event_loop(aep, flow):
    """While the trigger waits (poll interval, Retry-After, IMS), other coroutines keep running."""
    aep.set_run_plan(duration=1.0)
    run_id = start_run(flow)
    TOKEN_CACHE.clear()
    aep.inject_fault("GET", f"{FLOW}/runs/{run_id}", status=429, retry_after=0.8, times=1)
    aep.inject_fault("POST", "/ims/token/v3", delay=0.7, times=1)  # a blocking call would stall the loop this long
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def main():
        stop = asyncio.Event()
        tick = asyncio.ensure_future(ticker(stop))
        try:
            return await first_event(DataflowRunTrigger(run_id=run_id, poll_interval=0.3, end_time=time.time() + 30))
        finally:
            stop.set()
            await tick
            await aep_async.close_shared_clients()

    assert asyncio.run(main())["status"] == "success"
    assert len(gaps) > 20
    assert max(gaps) < 0.5, max(gaps)  # generous for a loaded machine; blocking would show >= 0.7


def test_each_event_loop_reads_the_connection_afresh(aep, flow, monkeypatch):
    """``dag.test()`` runs every deferral in a new event loop: a changed connection must apply at once,
    as it does for the tasks, not after the async hook's settings cache expires."""
    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    time.sleep(0.05)
    first, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 10))
    assert first["status"] == "success"
    # The same connection id now points at another sandbox, where this run does not exist.
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep.airflow_connection_json(sandbox_name="dev", backoff_base=0.01))
    second, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 10))
    assert second["status"] == "error", second
    assert "HTTP 404" in second["message"]
    assert run_gets(aep, run_id)[-1].headers["x-sandbox-name"] == "dev"


def test_triggers_in_one_loop_share_the_connection_read(aep, flow, monkeypatch):
    from airflow_provider_aep import _compat

    aep.set_run_plan(duration=0.2)
    run_ids = [start_run(flow, n) for n in range(5)]
    reads: list[str] = []
    real = _compat.aget_connection

    async def counting(conn_id: str):
        reads.append(conn_id)
        return await real(conn_id)

    monkeypatch.setattr(aep_async, "aget_connection", counting)

    async def main():
        try:
            await first_event(DataflowRunTrigger(run_id=run_ids[0], poll_interval=0.1, end_time=time.time() + 30))
            triggers = [DataflowRunTrigger(run_id=r, poll_interval=0.1, end_time=time.time() + 30) for r in run_ids]
            return await asyncio.gather(*(first_event(t) for t in triggers))
        finally:
            await aep_async.close_shared_clients()

    assert [p["status"] for p in asyncio.run(main())] == ["success"] * 5
    assert reads == ["aep_default"]


# ----------------------------------------------------------------------------------- secrets masking
def reset_masker() -> None:
    """Forget the secrets registered so far (the sync hook's token, when it made the flow)."""
    try:
        from airflow.sdk._shared.secrets_masker import _secrets_masker
    except ImportError:
        from airflow.utils.log.secrets_masker import _secrets_masker
    masker = _secrets_masker()
    masker.patterns = set()
    masker.replacer = None


def cached_tokens() -> list[str]:
    return [token.value for token in TOKEN_CACHE._tokens.values()]


def test_run_never_calls_the_sync_masker(aep, flow, monkeypatch):
    """The sync ``mask_secret`` is a blocking supervisor round trip on Airflow 3: the trigger uses ``amask_secret``."""
    from airflow_provider_aep._compat import redact
    from airflow_provider_aep.hooks import _ims, _tokens

    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    TOKEN_CACHE.clear()  # make the trigger fetch (and mask) its own token
    reset_masker()
    calls: list[str] = []

    def sync_masker(secret: Any, name: str | None = None) -> None:
        calls.append(f"mask_secret({name!r})")

    for module in (aep_async, _tokens, _ims):
        monkeypatch.setattr(module, "mask_secret", sync_masker, raising=False)
    payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success", payload
    assert calls == []
    [token] = cached_tokens()
    assert redact(f"Bearer {token}") == "Bearer ***"


@pytest.mark.skipif(not AIRFLOW_V3, reason="the Task SDK's supervisor channel is Airflow 3's")
def test_run_masks_through_the_async_supervisor_channel(aep, flow, monkeypatch):
    """As in the triggerer: secrets reach the supervisor with ``asend``, never the blocking ``send``."""
    from airflow.sdk.execution_time import task_runner

    aep.set_run_plan(duration=0.0)
    run_id = start_run(flow)
    TOKEN_CACHE.clear()

    class Comms:
        def __init__(self) -> None:
            self.sent: list[Any] = []
            self.asent: list[Any] = []

        def send(self, msg: Any) -> None:
            self.sent.append(msg)

        async def asend(self, msg: Any) -> None:
            self.asent.append(msg)

    comms = Comms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    payload, _ = fire(DataflowRunTrigger(run_id=run_id, poll_interval=0.1, end_time=time.time() + 30))
    assert payload["status"] == "success", payload
    assert comms.sent == []
    [token] = cached_tokens()
    assert token in [getattr(msg, "value", None) for msg in comms.asent]
