"""Sensor that waits for an Adobe dataflow run to finish."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_aep._compat import BaseSensorOperator, PokeReturnValue, default_deferrable
from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.links import LINK_XCOM_KEY, AepDataflowLink, dataflow_url
from airflow_provider_aep.utils.runs import describe_failure, is_success, is_terminal, run_status, summarize_run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_aep._compat import Context
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook


def finish_run(summary: dict[str, Any], log: Any, *, ti: Any = None, final: bool = False) -> dict[str, Any]:
    """Log the record counts of an ended run and push them (XCom ``run``); raise with Adobe's error codes if it failed.

    ``final`` makes the failure skip task retries (re-reading the same failed run cannot succeed).
    """
    log.info(
        "Dataflow run %s %s: %s records in, %s out, %s failed.",
        summary.get("run_id"),
        summary.get("status"),
        summary.get("input_records"),
        summary.get("output_records"),
        summary.get("failed_records"),
    )
    if ti is not None:
        ti.xcom_push(key="run", value=summary)
    if not is_success(summary.get("status") or ""):
        from airflow.exceptions import AirflowException

        try:
            from airflow.sdk.exceptions import AirflowFailException
        except ImportError:  # Airflow 2
            from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined]

        raise (AirflowFailException if final else AirflowException)(describe_failure(summary))
    return summary


def finish_trigger_event(
    event: dict[str, Any], timeout: float | None, log: Any, *, ti: Any = None, final: bool = False
) -> dict[str, Any]:
    """Turn the event of :class:`DataflowRunTrigger` into the run summary, or the task's failure."""
    from airflow.exceptions import AirflowException

    status = event.get("status")
    if status == "timeout":
        raise AirflowException(f"Timed out after {timeout} s waiting for the dataflow run: {event.get('message')}")
    if status == "error":
        raise AirflowException(str(event.get("message")))
    return finish_run(event.get("run") or {}, log, ti=ti, final=final)


def read_run(hook: Any, run_id: str | None, flow_id: str | None) -> dict[str, Any] | None:
    """The run by id, or the latest run of the flow (None when it has none yet)."""
    if run_id:
        return hook.get_run(run_id)
    return next(iter(hook.list_runs(flow_id or "")), None)


class DataflowRunSensor(BaseSensorOperator):
    """Wait for a dataflow run (by id, or the latest run of a flow) to end; fail if it failed.

    Returns (XCom) the run summary: status, input/output/failed record counts and errors.

    :param run_id: the run to wait for (templated).
    :param flow_id: wait for the latest run of this flow instead (templated).
    :param aep_conn_id: Airflow connection of the Adobe credential.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("run_id", "flow_id", "aep_conn_id")
    ui_color = "#fa0f00"
    operator_extra_links = (AepDataflowLink(),)

    def __init__(
        self,
        *,
        run_id: str | None = None,
        flow_id: str | None = None,
        aep_conn_id: str = "aep_default",
        deferrable: bool | None = None,
        poke_interval: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        if not run_id and not flow_id:
            raise AepInputError("run_id: give run_id or flow_id, the run to wait for.")
        self.run_id = run_id
        self.flow_id = flow_id
        self.aep_conn_id = aep_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    @cached_property
    def hook(self) -> AdobeExperiencePlatformHook:
        """One hook (and pooled session) for all the pokes of this task."""
        from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

        return AdobeExperiencePlatformHook(aep_conn_id=self.aep_conn_id)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        hook = self.hook
        run = read_run(hook, self.run_id, self.flow_id)
        if not run:
            if self.flow_id and not self.run_id:
                hook.get_flow(self.flow_id)  # a deleted flow fails now (404) instead of at the timeout
            self.log.info("Flow %s has no run yet.", self.flow_id)
            return False
        self._push_link(context, run.get("flowId") or self.flow_id)
        status = run_status(run)
        if not is_terminal(status):
            self.log.info("Dataflow run %s is %s.", run.get("id"), status)
            return False
        summary = finish_run(summarize_run(run), self.log, ti=context["ti"], final=bool(self.run_id))
        return PokeReturnValue(is_done=True, xcom_value=summary)

    def _push_link(self, context: Context, flow_id: str | None) -> None:
        """Once per task process: the dataflow's monitoring page, for the task's "AEP dataflow" button."""
        if flow_id and not getattr(self, "_link_pushed", False):
            context["ti"].xcom_push(key=LINK_XCOM_KEY, value=dataflow_url(self.hook.settings.sandbox_name, flow_id))
            self._link_pushed = True

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        self._defer()
        return None

    def _defer(self) -> None:
        from airflow_provider_aep.triggers.flow_service import DataflowRunTrigger

        timeout = float(self.timeout) if self.timeout else None
        self.defer(
            trigger=DataflowRunTrigger(
                run_id=self.run_id,
                flow_id=self.flow_id,
                aep_conn_id=self.aep_conn_id,
                poll_interval=float(self.poke_interval),
                end_time=time.time() + timeout if timeout else None,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + 60) if timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired."""
        if (event or {}).get("status") == "timeout":
            try:
                from airflow.sdk.exceptions import AirflowSensorTimeout
            except ImportError:  # Airflow 2
                from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef]

            # Like a poking sensor's timeout: final, no retries (each retry would wait the whole timeout again).
            raise AirflowSensorTimeout(
                f"Timed out after {self.timeout} s waiting for the dataflow run: {event.get('message')}"
            )
        return finish_trigger_event(event, self.timeout, self.log, ti=context["ti"], final=bool(self.run_id))
