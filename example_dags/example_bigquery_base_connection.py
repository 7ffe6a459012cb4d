"""Create the Adobe Experience Platform base connection to Google BigQuery, then use its id.

Connections this DAG expects (the README shows how to fill them):

- ``aep_default``: the Adobe credential (type "Adobe Experience Platform").
- ``google_cloud_default``: a Google Cloud connection with the service-account key (``keyfile_dict``
  or ``key_path``) and project.
- Variables ``bq_oauth_client_id``, ``bq_oauth_client_secret`` and ``bq_oauth_refresh_token`` for
  the basic-auth variant (and optionally ``bq_project_id``).
"""

from __future__ import annotations

import pendulum

from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[assignment,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

with DAG(
    dag_id="example_bigquery_base_connection",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["adobe", "bigquery", "example"],
    doc_md=__doc__,
) as dag:
    # Service auth: the key comes from the Airflow Google Cloud connection.
    create_service = CreateBigQueryBaseConnectionOperator(
        task_id="create_bigquery_base_connection",
        name="bigquery-crm-{{ dag_run.conf.get('env', 'demo') }}",
        description="BigQuery CRM project, created by Airflow",
        gcp_conn_id="google_cloud_default",
    )

    # Basic auth: a Google OAuth client and refresh token, kept in Airflow Variables.
    create_basic = CreateBigQueryBaseConnectionOperator(
        task_id="create_bigquery_base_connection_basic",
        name="bigquery-crm-oauth-{{ dag_run.conf.get('env', 'demo') }}",
        auth_type="basic",
        project_id="{{ var.value.get('bq_project_id', 'acme-crm-prod') }}",
        google_client_id="{{ var.value.bq_oauth_client_id }}",
        google_client_secret="{{ var.value.bq_oauth_client_secret }}",
        google_refresh_token="{{ var.value.bq_oauth_refresh_token }}",
    )

    @task
    def describe_connection(connection_id: str, aep_conn_id: str = "aep_default") -> dict:
        """Read the base connection back through the hook and log its state."""
        from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

        connection = AdobeExperiencePlatformHook(aep_conn_id=aep_conn_id).get_connection_by_id(connection_id)
        summary = {
            "id": connection_id,
            "name": connection.get("name"),
            "state": connection.get("state"),
            "auth": (connection.get("auth") or {}).get("specName"),
        }
        print(f"AEP base connection {summary['id']} ({summary['name']}): state {summary['state']}, {summary['auth']}")
        return summary

    describe_connection(create_service.output)
    describe_connection.override(task_id="describe_connection_basic")(create_basic.output)
