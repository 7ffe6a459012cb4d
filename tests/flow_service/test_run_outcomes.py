"""Failed runs, runs that outlast the timeout, and retries, for the sensor and RunDataflowOperator."""

from __future__ import annotations

import logging
import re
import time

import pytest

from airflow_provider_aep.exceptions import AdobeApiError
from tests.flow_service.support import FLOW, execute, make_flow, run_text
from tests.helpers.context import FakeTI
from tests.helpers.dags import run_dag, task_states, xcom

ERROR_MESSAGE = "Copy from source failed: the BigQuery job bqjob_r1 failed: Access Denied: Table crm.customers"
WINDOW = 1767139200


@pytest.fixture
def flow(aep, service_account_key):
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    ids = make_flow(AdobeExperiencePlatformHook(), service_account_key)
    aep.clear_journal()
    return ids


def sensor_dag(flow_id: str, *, deferrable: bool, timeout: float) -> str:
    return f"""
from airflow_provider_aep.operators.flow_service import RunDataflowOperator
from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

with DAG(DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
    run = RunDataflowOperator(
        task_id="run", flow_id={flow_id!r}, window_start={WINDOW}, window_end={WINDOW + 3600},
        delta_column="updated_at", wait_for_completion=False,
    )
    wait = DataflowRunSensor(
        task_id="wait", run_id=run.output, deferrable={deferrable!r}, poke_interval=0.3, timeout={timeout!r}
    )
    run >> wait
"""


def waiting_run_dag(flow_id: str, *, deferrable: bool, timeout: float) -> str:
    return f"""
from airflow_provider_aep.operators.flow_service import RunDataflowOperator

with DAG(DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
    RunDataflowOperator(
        task_id="run", flow_id={flow_id!r}, window_start={WINDOW}, window_end={WINDOW + 3600},
        deferrable={deferrable!r}, poll_interval=0.3, timeout={timeout!r},
    )
"""


MODES = pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "non_deferrable"])


@MODES
def test_failed_run_fails_the_sensor_with_the_error_code(airflow_db, aep, flow, dags_folder, capfd, caplog, deferrable):
    caplog.set_level(logging.INFO)
    aep.set_run_plan(outcome="failed", duration=1.0, errors=[{"code": "CONNECTOR-1001-500", "message": ERROR_MESSAGE}])
    dag_run = run_dag(dags_folder, sensor_dag(flow["flow"], deferrable=deferrable, timeout=60))
    assert task_states(dag_run) == {"run": "success", "wait": "failed"}
    text = run_text(capfd, caplog)
    run_id = xcom(dag_run, "run")
    assert f"Dataflow run {run_id} of flow {flow['flow']} failed: CONNECTOR-1001-500: {ERROR_MESSAGE}" in text
    assert "records in 1000, out 0, failed 0" in text
    counts = xcom(dag_run, "wait", key="run")  # the failed run's counts are kept for the user
    assert (counts["status"], counts["input_records"], counts["errors"][0]["code"]) == (
        "failed",
        1000,
        "CONNECTOR-1001-500",
    )
    agents = {e.headers["user-agent"].split()[-1].split("/")[0] for e in aep.requests("GET", f"{FLOW}/runs/*")}
    assert ("httpx" in agents) is deferrable


@MODES
def test_failed_run_fails_the_waiting_run_operator(airflow_db, aep, flow, dags_folder, capfd, caplog, deferrable):
    caplog.set_level(logging.INFO)
    aep.set_run_plan(
        outcome="failed", duration=0.8, errors=[{"code": "CONNECTOR-2001-500", "message": "Processing failed"}]
    )
    dag_run = run_dag(dags_folder, waiting_run_dag(flow["flow"], deferrable=deferrable, timeout=60))
    assert task_states(dag_run) == {"run": "failed"}
    assert "CONNECTOR-2001-500: Processing failed" in run_text(capfd, caplog)


@MODES
def test_run_in_progress_past_the_sensor_timeout(airflow_db, aep, flow, dags_folder, capfd, caplog, deferrable):
    caplog.set_level(logging.INFO)
    aep.set_run_plan(duration=600)
    started = time.monotonic()
    dag_run = run_dag(dags_folder, sensor_dag(flow["flow"], deferrable=deferrable, timeout=2))
    assert task_states(dag_run) == {"run": "success", "wait": "failed"}
    text = run_text(capfd, caplog)
    if deferrable:
        run_id = xcom(dag_run, "run")
        assert re.search(
            rf"Timed out after 2(\.0)? s waiting for the dataflow run: Dataflow run {run_id} still running", text
        ), text[-3000:]
    else:
        assert re.search(
            r"Sensor has timed out; run duration of [\d.]+ seconds exceeds the specified timeout of 2", text
        )
    assert time.monotonic() - started < 45


@MODES
def test_run_in_progress_past_the_operator_timeout(airflow_db, aep, flow, dags_folder, capfd, caplog, deferrable):
    caplog.set_level(logging.INFO)
    aep.set_run_plan(duration=600)
    dag_run = run_dag(dags_folder, waiting_run_dag(flow["flow"], deferrable=deferrable, timeout=1.5))
    assert task_states(dag_run) == {"run": "failed"}
    text = run_text(capfd, caplog)
    assert re.search(
        r"Timed out after 1.5 s waiting for (dataflow run \S+ \(still inprogress\)|the dataflow run)", text
    )


# ------------------------------------------------------------------------------ operator-level behaviour
def run_op(flow_id: str, **kwargs):
    from airflow_provider_aep.operators.flow_service import RunDataflowOperator

    kwargs = {
        "window_start": WINDOW,
        "window_end": WINDOW + 3600,
        "delta_column": "updated_at",
        "poll_interval": 0.1,
        "timeout": 30,
        "deferrable": False,
        **kwargs,
    }
    return RunDataflowOperator(task_id="run", flow_id=flow_id, **kwargs)


def test_waiting_run_operator_pushes_the_summary(aep, flow):
    aep.set_run_plan(duration=0.3, input_records=10)
    run_id, ti = execute(run_op(flow["flow"]))
    assert ti.xcoms["run"]["run_id"] == run_id and ti.xcoms["run"]["input_records"] == 10
    assert ti.xcoms["aep_url"].endswith(f"/dataflows/{flow['flow']}/runs")


def test_same_window_reuses_a_run_in_progress_or_done(aep, flow):
    aep.set_run_plan(duration=0.3)
    first, _ = execute(run_op(flow["flow"], wait_for_completion=False))
    again, _ = execute(run_op(flow["flow"], wait_for_completion=False))  # still in progress
    assert again == first
    time.sleep(0.4)
    done, _ = execute(run_op(flow["flow"]))  # succeeded: a retry must not ingest the window twice
    assert done == first
    assert len(aep.requests("POST", f"{FLOW}/runs")) == 1


def test_retry_after_a_failed_run_starts_a_new_run(aep, flow):
    """A task retry must try the window again, not re-read the failed run forever."""
    from airflow.exceptions import AirflowException

    aep.set_run_plan(outcome="failed", duration=0.1)
    with pytest.raises(AirflowException, match="CONNECTOR-1001-500"):
        execute(run_op(flow["flow"]))
    aep.set_run_plan(duration=0.1)
    run_id, ti = execute(run_op(flow["flow"]))
    assert ti.xcoms["run"]["status"] == "success"
    posts = aep.requests("POST", f"{FLOW}/runs")
    assert len(posts) == 2
    assert run_id == aep.resources("runs")[-1]["id"]
    # the first run never succeeded, so the retry is still the flow's first run: it names the delta column
    assert [p.body["params"].get("deltaColumn") for p in posts] == [{"name": "updated_at"}] * 2


def test_delta_column_is_sent_until_a_run_has_succeeded(aep, flow):
    aep.set_run_plan(duration=0.1)
    execute(run_op(flow["flow"]))
    execute(run_op(flow["flow"], window_start=WINDOW + 3600, window_end=WINDOW + 7200))
    first, second = aep.requests("POST", f"{FLOW}/runs")
    assert first.body["params"]["deltaColumn"] == {"name": "updated_at"}
    assert "deltaColumn" not in second.body["params"]


def test_failed_run_pushes_its_counts_before_failing(aep, flow):
    from airflow.exceptions import AirflowException

    aep.set_run_plan(outcome="failed", duration=0.1, input_records=7)
    ti = FakeTI()
    with pytest.raises(AirflowException, match="CONNECTOR-1001-500"):
        run_op(flow["flow"]).execute({"ti": ti})
    assert ti.xcoms["run"]["status"] == "failed" and ti.xcoms["run"]["input_records"] == 7


def test_sensor_failure_on_a_failed_run_skips_task_retries(aep, flow):
    """Re-reading a failed run cannot succeed: the sensor's failure is final (AirflowFailException)."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # Airflow 2
        from airflow.exceptions import AirflowFailException

    from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

    aep.set_run_plan(outcome="failed", duration=0.0)
    run_id, _ = execute(run_op(flow["flow"], wait_for_completion=False))
    sensor = DataflowRunSensor(task_id="wait", run_id=run_id, deferrable=False, poke_interval=0.1, timeout=10)
    with pytest.raises(AirflowFailException, match="CONNECTOR-1001-500"):
        execute(sensor)


@pytest.mark.parametrize("fault", [{"status": 500, "after_apply": True}, {"drop": True, "after_apply": True}])
def test_run_created_despite_an_error_is_found_without_run_params(aep, flow, fault):
    """Adobe's spec lists no ``params`` on a run: the run that appeared since the POST is the one it made."""
    aep.show_run_params(False)
    aep.set_run_plan(duration=0.1)
    aep.inject_fault("POST", f"{FLOW}/runs", **fault)
    run_id, _ = execute(run_op(flow["flow"], wait_for_completion=False))
    assert [r["id"] for r in aep.resources("runs")] == [run_id]
    assert len(aep.requests("POST", f"{FLOW}/runs")) == 1


@pytest.mark.parametrize("fault", [{"status": 500, "after_apply": True}, {"drop": True, "after_apply": True}])
def test_run_created_despite_an_error_is_not_started_twice(aep, flow, fault):
    aep.set_run_plan(duration=0.1)
    aep.inject_fault("POST", f"{FLOW}/runs", **fault)
    run_id, _ = execute(run_op(flow["flow"], wait_for_completion=False))
    assert [r["id"] for r in aep.resources("runs")] == [run_id]


def test_sensor_on_a_deleted_flow_fails_at_once(aep, flow):
    """Waiting for the latest run of a flow that was deleted must fail, not poke until the timeout."""
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook
    from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

    sensor = DataflowRunSensor(task_id="wait", flow_id=flow["flow"], poke_interval=0.1, deferrable=False)
    assert sensor.poke({}) is False  # no run yet: keep waiting
    AdobeExperiencePlatformHook().delete_resource("flows", flow["flow"])
    with pytest.raises(AdobeApiError, match="HTTP 404"):
        sensor.poke({})


def test_sensor_on_the_latest_run_of_a_flow(aep, flow):
    from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

    aep.set_run_plan(duration=0.0)
    execute(run_op(flow["flow"], wait_for_completion=False))
    time.sleep(0.05)
    sensor = DataflowRunSensor(task_id="wait", flow_id=flow["flow"], poke_interval=0.1, deferrable=False)
    ti = FakeTI()
    result = sensor.poke({"ti": ti})
    assert result.is_done and result.xcom_value["status"] == "success"
    assert ti.xcoms["run"] == result.xcom_value
    assert ti.xcoms["aep_url"].endswith(f"/sname:prod/platform/source/dataflows/{flow['flow']}/runs")


def retrying_sensor_dag(flow_id: str, *, deferrable: bool) -> str:
    return f"""
from datetime import timedelta
from airflow_provider_aep.operators.flow_service import RunDataflowOperator
from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

with DAG(DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
    run = RunDataflowOperator(
        task_id="run", flow_id={flow_id!r}, window_start={WINDOW}, window_end={WINDOW + 3600},
        wait_for_completion=False,
    )
    wait = DataflowRunSensor(
        task_id="wait", run_id=run.output, deferrable={deferrable!r}, poke_interval=0.3, timeout=1,
        retries=2, retry_delay=timedelta(seconds=0),
    )
    run >> wait
"""


@MODES
def test_sensor_timeout_is_final_in_both_modes(airflow_db, aep, flow, dags_folder, deferrable):
    """A sensor that timed out fails for good (AirflowSensorTimeout), deferrable or not: no retries."""
    aep.set_run_plan(duration=600)
    dag_run = run_dag(dags_folder, retrying_sensor_dag(flow["flow"], deferrable=deferrable))
    states = task_states(dag_run)
    assert states["wait"] == "failed", states
    assert dag_run.get_task_instance("wait").try_number <= 1


def test_timeout_event_raises_sensor_timeout():
    try:
        from airflow.sdk.exceptions import AirflowSensorTimeout
    except ImportError:  # Airflow 2
        from airflow.exceptions import AirflowSensorTimeout

    from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

    sensor = DataflowRunSensor(task_id="wait", run_id="r-1", timeout=5, deferrable=True)
    with pytest.raises(AirflowSensorTimeout, match=r"Timed out after 5(\.0)? s .*Dataflow run r-1 still running"):
        sensor.execute_complete({}, {"status": "timeout", "message": "Dataflow run r-1 still running at the timeout."})
