"""The whole BigQuery → AEP journey in real DAG runs (``dag.test()``), on Airflow 3.3 and 2.11.

The example DAG runs as shipped (deferrable sensor) and with a non-deferrable sensor; the emulator's
journal must show every call as Adobe documents it.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_aep.utils.pql import build_pql
from tests.flow_service.support import (
    BQ_SPEC_ID,
    CONVERSION,
    CRM_TO_AEP_ID,
    DATA_LAKE_SPEC_ID,
    DATASET_ID,
    FLOW,
    SCHEMA_ID,
    XDM_FULL,
)
from tests.helpers.dags import load_dag, run_dag, task_states, xcom

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_bigquery_to_aep_dataflow.py"
EXAMPLE_ID = "example_bigquery_to_aep_dataflow"
MAPPINGS = {
    "customer_id": "_acme.customerId",
    "email": "personalEmail.address",
    "first_name": "person.name.firstName",
    "city": "homeAddress.city",
    "loyalty_points": "_acme.loyaltyPoints",
}
ALL_TASKS = {
    "create_base_connection",
    "explore_tables",
    "pick_table",
    "read_table_schema",
    "create_source_connection",
    "create_target_connection",
    "create_mapping_set",
    "create_dataflow",
    "run_dataflow",
    "wait_for_run",
    "delete_dataflow",
    "delete_source_connection",
    "delete_target_connection",
}


def run_example(dags_folder: Path, *, deferrable: bool) -> Any:
    """Run the shipped example DAG from the DAGs folder; the non-deferrable variant flips the sensor only."""
    source = EXAMPLE.read_text()
    dag_id = f"{EXAMPLE_ID}_{uuid.uuid4().hex[:8]}"
    assert source.count(f'dag_id="{EXAMPLE_ID}"') == 1
    source = source.replace(f'dag_id="{EXAMPLE_ID}"', f'dag_id="{dag_id}"')
    if not deferrable:
        assert source.count("deferrable=True,") == 1
        source = source.replace("deferrable=True,", "deferrable=False,")
    path = dags_folder / f"{dag_id}.py"
    path.write_text(source)
    return load_dag(path, dag_id).test()


def user_agents(entries: list[Any]) -> set[str]:
    return {e.headers.get("user-agent", "").split()[-1].split("/")[0] for e in entries}


def check_journey_journal(aep: Any, dag_run: Any, *, deferrable: bool) -> None:
    """Every call of the journey, as the reference (aep-api.md §5-§7) specifies it."""
    base_id = xcom(dag_run, "create_base_connection")
    source_id = xcom(dag_run, "create_source_connection")
    target_id = xcom(dag_run, "create_target_connection")
    mapping = xcom(dag_run, "create_mapping_set")
    flow_id = xcom(dag_run, "create_dataflow")
    run_id = xcom(dag_run, "run_dataflow")

    for entry in aep.requests(path=f"{FLOW}/*") + aep.requests(path=f"{CONVERSION}/*"):
        assert entry.headers["authorization"] == "Bearer <redacted>"
        assert entry.headers["x-api-key"] == aep.client_id
        assert entry.headers["x-gw-ims-org-id"] == aep.org_id
        assert entry.headers["x-sandbox-name"] == "prod"
        if entry.method == "POST":
            assert entry.headers["content-type"] == "application/json"
        assert entry.status < 400, (entry.method, entry.path, entry.status)

    # 1. explore: the tables, then one table's schema with preview rows filtered at the source
    explores = aep.requests("GET", f"{FLOW}/connections/{base_id}/explore")
    assert explores[0].query == {"objectType": ["root"]}
    table_query = explores[1].query
    assert table_query["objectType"] == ["table"]
    assert table_query["object"] == ["crm.customers"]
    assert table_query["preview"] == ["true"]
    pql = json.loads(base64.b64decode(table_query["filters"][0], validate=True))
    assert pql == build_pql([("loyalty_points", ">=", 0)])
    assert pql == {
        "type": "PQL",
        "format": "pql/json",
        "value": {
            "nodeType": "fnApply",
            "fnName": ">=",
            "params": [{"nodeType": "fieldLookup", "fieldName": "loyalty_points"}, {"nodeType": "literal", "value": 0}],
        },
    }
    schema = xcom(dag_run, "read_table_schema")
    assert [c["name"] for c in schema["columns"]][:2] == ["customer_id", "email"]
    assert len(schema["rows"]) == 6

    # 2. source connection
    (post,) = aep.requests("POST", f"{FLOW}/sourceConnections")
    assert post.body == {
        "name": "bigquery-crm-customers-source",
        "baseConnectionId": base_id,
        "data": {"format": "tabular"},
        "params": {"tableName": "crm.customers"},
        "connectionSpec": {"id": BQ_SPEC_ID, "version": "1.0"},
    }
    # 3. target connection (Data Lake)
    (post,) = aep.requests("POST", f"{FLOW}/targetConnections")
    assert post.body == {
        "name": "aep-crm-customers-target",
        "data": {"schema": {"id": SCHEMA_ID, "version": XDM_FULL}},
        "params": {"dataSetId": DATASET_ID},
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
    }
    # 4. mapping set (Data Prep)
    (post,) = aep.requests("POST", f"{CONVERSION}/mappingSets")
    name = post.body.pop("name")
    assert re.fullmatch(r"airflow-[0-9a-f]{20}", name), name  # named after its content
    assert post.body == {
        "outputSchema": {"schemaRef": {"id": SCHEMA_ID, "contentType": XDM_FULL}},
        "mappings": [{"sourceType": "ATTRIBUTE", "source": s, "destination": d} for s, d in MAPPINGS.items()],
    }
    (lookup,) = aep.requests("GET", f"{CONVERSION}/mappingSets")
    assert lookup.query["name"] == [name]
    assert mapping == {"mapping_id": aep.resources("mappingSets")[0]["id"], "mapping_version": 0}
    # 5. flow spec by name, then the flow
    (spec_lookup,) = aep.requests("GET", f"{FLOW}/flowSpecs")
    assert spec_lookup.query["property"] == ['name=="CRMToAEP"']
    (post,) = aep.requests("POST", f"{FLOW}/flows")
    body = post.body
    assert "state" not in body
    assert body["name"] == "bigquery-crm-customers-to-aep"
    assert body["flowSpec"] == {"id": CRM_TO_AEP_ID, "version": "1.0"}
    assert body["sourceConnectionIds"] == [source_id]
    assert body["targetConnectionIds"] == [target_id]
    assert body["transformations"] == [
        {"name": "Copy", "params": {"deltaColumn": {"name": "updated_at"}}},
        {"name": "Mapping", "params": {"mappingId": mapping["mapping_id"], "mappingVersion": 0}},
    ]
    assert type(body["transformations"][1]["params"]["mappingVersion"]) is int
    schedule = body["scheduleParams"]
    assert set(schedule) == {"frequency", "startTime"} and schedule["frequency"] == "once"
    assert type(schedule["startTime"]) is int and abs(schedule["startTime"] - time.time()) < 600  # seconds, not ms
    # 6. the on-demand run
    (post,) = aep.requests("POST", f"{FLOW}/runs")
    params = post.body["params"]
    assert post.body["flowId"] == flow_id
    assert set(params) == {"startTime", "windowStartTime", "windowEndTime", "deltaColumn"}
    assert params["deltaColumn"] == {"name": "updated_at"}  # first run of the flow
    assert all(type(params[k]) is int for k in ("startTime", "windowStartTime", "windowEndTime"))
    assert params["windowEndTime"] - params["windowStartTime"] == 86400
    assert abs(params["windowEndTime"] - time.time()) < 600
    # 7. monitoring: GET /runs/{id}; by the trigger (httpx) only when deferrable
    polls = aep.requests("GET", f"{FLOW}/runs/{run_id}")
    assert polls and polls[-1].status == 200
    agents = user_agents(polls)
    assert ("httpx" in agents) is deferrable, agents
    assert "python-requests" in agents  # the sensor's first poke, or every poke
    summary = xcom(dag_run, "wait_for_run")
    assert summary["run_id"] == run_id and summary["status"] == "success"
    assert (summary["input_records"], summary["output_records"], summary["failed_records"]) == (1000, 1000, 0)
    # 8. teardown
    deletes = [(e.path, e.status) for e in aep.requests("DELETE")]
    assert deletes[0] == (f"{FLOW}/flows/{flow_id}", 204)
    assert sorted(deletes[1:]) == sorted(
        [(f"{FLOW}/sourceConnections/{source_id}", 204), (f"{FLOW}/targetConnections/{target_id}", 204)]
    )
    for kind in ("flows", "sourceConnections", "targetConnections", "runs"):
        assert aep.resources(kind) == [], kind
    assert len(aep.resources("connections")) == 1
    # one IMS token for the whole DAG: tasks and trigger share the cache
    assert aep.token_requests == 1


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "non_deferrable"])
def test_example_dag_end_to_end(airflow_db, aep, gcp_connection, dags_folder, deferrable):
    aep.set_run_plan(duration=2.5)  # long enough for the sensor's first poke to see the run in progress
    dag_run = run_example(dags_folder, deferrable=deferrable)
    states = task_states(dag_run)
    assert states == dict.fromkeys(ALL_TASKS, "success"), states
    check_journey_journal(aep, dag_run, deferrable=deferrable)


# --------------------------------------------------------------------------------------- own DAGs
JOURNEY = """
from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator
from airflow_provider_aep.operators.flow_service import (
    CreateDataflowOperator, CreateDataLakeTargetConnectionOperator, CreateMappingSetOperator,
    CreateSourceConnectionOperator, RunDataflowOperator,
)
from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

with DAG(DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
    base = CreateBigQueryBaseConnectionOperator(task_id="base", name="bq-journey", gcp_conn_id="google_cloud_default")
    source = CreateSourceConnectionOperator(
        task_id="source", name="journey-source", base_connection_id=base.output, table_path="crm.customers",
        columns=["customer_id", "email", "updated_at"], row_filter={"city": "DDN"},
    )
    target = CreateDataLakeTargetConnectionOperator(
        task_id="target", name="journey-target", dataset_id=DATASET_ID, schema_id=SCHEMA_ID
    )
    mapping = CreateMappingSetOperator(
        task_id="mapping", schema_id=SCHEMA_ID,
        mappings=[("customer_id", "_acme.customerId"), ("email", "personalEmail.address")],
    )
    flow = CreateDataflowOperator(
        task_id="flow", name="journey-flow", source_connection_id=source.output,
        target_connection_id=target.output,
        mapping_id="{{ ti.xcom_pull(task_ids='mapping')['mapping_id'] }}",
        mapping_version="{{ ti.xcom_pull(task_ids='mapping')['mapping_version'] }}",
        delta_column="updated_at",
    )
    run = RunDataflowOperator(
        task_id="run", flow_id=flow.output, delta_column="updated_at", wait_for_completion=False,
        window_start="{{ ((dag_run.logical_date or dag_run.run_after) - macros.timedelta(hours=1)).isoformat() }}",
        window_end="{{ (dag_run.logical_date or dag_run.run_after).isoformat() }}",
    )
    wait = DataflowRunSensor(task_id="wait", run_id=run.output, deferrable=DEFERRABLE, poke_interval=0.5, timeout=60)
    [source, target, mapping] >> flow >> run >> wait
"""


def journey_body(*, deferrable: bool) -> str:
    return f"DATASET_ID = {DATASET_ID!r}\nSCHEMA_ID = {SCHEMA_ID!r}\nDEFERRABLE = {deferrable!r}\n" + JOURNEY


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "non_deferrable"])
def test_rerunning_the_journey_reuses_resources_by_name(airflow_db, aep, gcp_connection, dags_folder, deferrable):
    aep.set_run_plan(duration=0.3)
    body = journey_body(deferrable=deferrable)
    first = run_dag(dags_folder, body)
    assert set(task_states(first).values()) == {"success"}, task_states(first)
    second = run_dag(dags_folder, body)
    assert set(task_states(second).values()) == {"success"}, task_states(second)

    for kind in ("connections", "sourceConnections", "targetConnections", "flows"):
        assert len(aep.resources(kind)) == 1, kind
    for task_id in ("base", "source", "target", "flow"):
        assert xcom(first, task_id) == xcom(second, task_id), task_id
    for collection in ("sourceConnections", "targetConnections", "flows"):
        assert len(aep.requests("POST", f"{FLOW}/{collection}")) == 1, collection
    # the mapping set is named after its content, so the re-run reuses it too
    assert len(aep.resources("mappingSets")) == 1
    assert len(aep.requests("POST", f"{CONVERSION}/mappingSets")) == 1
    assert xcom(first, "mapping") == xcom(second, "mapping")
    # two windows, two runs; deltaColumn on the flow's first run only
    posts = aep.requests("POST", f"{FLOW}/runs")
    assert len(posts) == 2 and len(aep.resources("runs")) == 2
    assert posts[0].body["params"]["deltaColumn"] == {"name": "updated_at"}
    assert "deltaColumn" not in posts[1].body["params"]
    # the source connection carries the selected columns and the row filter as PQL
    (source,) = aep.requests("POST", f"{FLOW}/sourceConnections")
    assert source.body["params"] == {
        "tableName": "crm.customers",
        "columns": ["customer_id", "email", "updated_at"],
        "filters": build_pql({"city": "DDN"}),
    }
    # ISO text windows became integer epoch seconds
    params = posts[0].body["params"]
    assert params["windowEndTime"] - params["windowStartTime"] == 3600
