"""Trigger that waits for an Adobe dataflow run in the triggerer, without blocking its event loop."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_aep.exceptions import AdobeApiError
from airflow_provider_aep.utils.runs import is_success, is_terminal, run_status, summarize_run

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class DataflowRunTrigger(BaseTrigger):
    """Poll a dataflow run (by run id, or the latest run of a flow) until it ends.

    Yields one event: ``{"status": "success" | "failed" | "timeout" | "error", "run": {...}, "message": ...}``.
    The trigger never cancels the run: it only watches it. When Adobe stays throttled, failing (5xx) or
    unreachable past the hook's retries, the trigger warns and polls again until ``end_time``; other
    errors (404, 403, a bad connection) end it with ``error`` at once.

    :param run_id: the run to watch.
    :param flow_id: watch the latest run of this flow instead (when ``run_id`` is not given).
    :param aep_conn_id: Airflow connection of the Adobe credential.
    :param poll_interval: seconds between polls.
    :param end_time: epoch seconds after which the trigger gives up with a ``timeout`` event.
    """

    def __init__(
        self,
        *,
        run_id: str | None = None,
        flow_id: str | None = None,
        aep_conn_id: str = "aep_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        if not run_id and not flow_id:
            raise ValueError("DataflowRunTrigger needs run_id or flow_id.")
        self.run_id = run_id
        self.flow_id = flow_id
        self.aep_conn_id = aep_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time) if end_time is not None else None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_id": self.run_id,
                "flow_id": self.flow_id,
                "aep_conn_id": self.aep_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_aep.hooks.aep_async import AdobeExperiencePlatformAsyncHook

        hook = AdobeExperiencePlatformAsyncHook(self.aep_conn_id)
        what = f"run {self.run_id}" if self.run_id else f"latest run of flow {self.flow_id}"
        run: dict[str, Any] | None = None  # the last run read
        read = False  # whether any poll succeeded
        while True:
            outage: AdobeApiError | None = None
            try:
                if self.run_id:
                    run = await hook.get_run(self.run_id)
                else:
                    run = await hook.get_latest_run(self.flow_id or "")
                    if not run:  # no run yet, or the flow is gone: a deleted flow must not wait until the timeout
                        await hook.get_flow(self.flow_id or "")
                read = True
            except AdobeApiError as err:
                if not is_transient(err):
                    gone = " (deleted?)" if err.status == 404 else ""
                    yield TriggerEvent({"status": "error", "message": f"Cannot read dataflow {what}{gone}: {err}"})
                    return
                outage = err  # the hook's retries are spent, but Adobe may be back before end_time
            except Exception as err:  # a bad connection, for instance: report it to the task
                yield TriggerEvent({"status": "error", "message": f"Cannot read dataflow {what}: {err}"})
                return
            if run and outage is None:
                status = run_status(run)
                if is_terminal(status):
                    outcome = "success" if is_success(status) else "failed"
                    yield TriggerEvent({"status": outcome, "run": summarize_run(run)})
                    return
            remaining = None if self.end_time is None else self.end_time - time.time()
            if remaining is not None and remaining <= 0:
                summary = summarize_run(run) if run else {"run_id": self.run_id, "flow_id": self.flow_id}
                if run:
                    state = "still running"
                elif read:
                    state = "not started (the flow has no run yet)"
                else:
                    state = "never read"
                message = f"Dataflow {what} {state} at the timeout."
                if outage is not None:
                    message += f" The last check failed: {outage}"
                yield TriggerEvent({"status": "timeout", "run": summary, "message": message})
                return
            wait = self.poll_interval if remaining is None else min(self.poll_interval, remaining)
            if outage is not None:
                self.log.warning("Cannot read dataflow %s for now (%s); checking again in %.0f s.", what, outage, wait)
            else:
                self.log.info(
                    "Dataflow %s is %s; checking again in %.0f s.",
                    what,
                    run_status(run) if run else "not started",
                    wait,
                )
            await asyncio.sleep(wait)


def is_transient(err: AdobeApiError) -> bool:
    """Adobe throttled (429), failed on its side (5xx) or was unreachable: worth asking again later."""
    return err.status is None or err.status == 429 or err.status >= 500
