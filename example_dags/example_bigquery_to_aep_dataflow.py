"""From a BigQuery project to an AEP dataset in one DAG.

base connection → explore tables → read a table's schema (and a filtered preview) → source
connection → target connection → mapping set → dataflow → on-demand run → deferrable sensor,
then teardown tasks that delete what the DAG created.

Connections: ``aep_default`` (Adobe) and ``google_cloud_default`` (service-account key).
Variables (optional): ``aep_dataset_id`` and ``aep_schema_id``, the AEP dataset and its XDM schema.
"""

from __future__ import annotations

import pendulum

from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator
from airflow_provider_aep.operators.flow_service import (
    CreateDataflowOperator,
    CreateDataLakeTargetConnectionOperator,
    CreateMappingSetOperator,
    CreateSourceConnectionOperator,
    DeleteFlowServiceResourceOperator,
    ExploreConnectionOperator,
    RunDataflowOperator,
)
from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[assignment,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

TABLE = "crm.customers"
SCHEMA_ID = "{{ var.value.get('aep_schema_id', 'https://ns.adobe.com/acme/schemas/6a3f2b9c1d') }}"
DATASET_ID = "{{ var.value.get('aep_dataset_id', '65f1c2d3e4a5b6c7d8e9f001') }}"

with DAG(
    dag_id="example_bigquery_to_aep_dataflow",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["adobe", "bigquery", "example"],
    doc_md=__doc__,
) as dag:
    base = CreateBigQueryBaseConnectionOperator(
        task_id="create_base_connection",
        name="bigquery-crm-journey",
        gcp_conn_id="google_cloud_default",
    )

    tables = ExploreConnectionOperator(task_id="explore_tables", connection_id=base.output)

    @task
    def pick_table(found: list[dict], wanted: str = TABLE) -> str:
        """Check the table is there and Adobe can read its schema."""
        paths = {t["path"]: t for t in found}
        if wanted not in paths or not paths[wanted]["can_fetch_schema"]:
            raise ValueError(f"Table {wanted} not found among {sorted(paths)}")
        return wanted

    table = pick_table(tables.output)

    schema = ExploreConnectionOperator(
        task_id="read_table_schema",
        connection_id=base.output,
        object_path=table,
        preview=True,
        row_filter=[("loyalty_points", ">=", 0)],
    )

    source = CreateSourceConnectionOperator(
        task_id="create_source_connection",
        name="bigquery-crm-customers-source",
        base_connection_id=base.output,
        table_path=table,
    )

    target = CreateDataLakeTargetConnectionOperator(
        task_id="create_target_connection",
        name="aep-crm-customers-target",
        dataset_id=DATASET_ID,
        schema_id=SCHEMA_ID,
    )

    mapping = CreateMappingSetOperator(
        task_id="create_mapping_set",
        schema_id=SCHEMA_ID,
        mappings={
            "customer_id": "_acme.customerId",
            "email": "personalEmail.address",
            "first_name": "person.name.firstName",
            "city": "homeAddress.city",
            "loyalty_points": "_acme.loyaltyPoints",
        },
    )

    flow = CreateDataflowOperator(
        task_id="create_dataflow",
        name="bigquery-crm-customers-to-aep",
        source_connection_id=source.output,
        target_connection_id=target.output,
        mapping_id="{{ ti.xcom_pull(task_ids='create_mapping_set', key='mapping_id') }}",
        mapping_version=0,
        delta_column="updated_at",
        frequency="once",
    )

    run = RunDataflowOperator(
        task_id="run_dataflow",
        flow_id=flow.output,
        window_start="{{ ((dag_run.logical_date or dag_run.run_after) - macros.timedelta(days=1)).timestamp() | int }}",
        window_end="{{ (dag_run.logical_date or dag_run.run_after).timestamp() | int }}",
        delta_column="updated_at",
        wait_for_completion=False,
    )

    wait = DataflowRunSensor(
        task_id="wait_for_run",
        run_id=run.output,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )

    delete_flow = DeleteFlowServiceResourceOperator(
        task_id="delete_dataflow", resource_type="flow", resource_id=flow.output
    ).as_teardown(setups=[flow])
    delete_source = DeleteFlowServiceResourceOperator(
        task_id="delete_source_connection", resource_type="source_connection", resource_id=source.output
    ).as_teardown(setups=[source])
    delete_target = DeleteFlowServiceResourceOperator(
        task_id="delete_target_connection", resource_type="target_connection", resource_id=target.output
    ).as_teardown(setups=[target])

    schema >> source
    [source, target, mapping] >> flow >> run >> wait
    wait >> delete_flow >> [delete_source, delete_target]
