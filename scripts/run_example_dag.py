"""Run an example DAG end to end against the embedded AEP emulator and print what it created.

    python scripts/run_example_dag.py                      # the base-connection DAG
    python scripts/run_example_dag.py --dag example_bigquery_to_aep_dataflow

Everything is local: a throw-away Airflow home with SQLite, the emulator on 127.0.0.1, a Google
service-account key generated on the spot. Nothing reaches Adobe or Google.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_key(project_id: str) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode("ascii")
    )
    email = f"aep-reader@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": email,
        "client_id": "104" + str(uuid.uuid4().int)[:18],
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag", default="example_bigquery_base_connection")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="aep-demo-airflow-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        }
    )
    from airflow_provider_aep.testing import AepEmulator

    with AepEmulator() as emulator:
        key = make_key("acme-crm-prod")
        os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = emulator.airflow_connection_json()
        os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"keyfile_dict": json.dumps(key), "project": "acme-crm-prod"},
            }
        )
        os.environ["AIRFLOW_VAR_BQ_OAUTH_CLIENT_ID"] = "1234567890-demo.apps.googleusercontent.com"
        os.environ["AIRFLOW_VAR_BQ_OAUTH_CLIENT_SECRET"] = "GOCSPX-" + uuid.uuid4().hex
        os.environ["AIRFLOW_VAR_BQ_OAUTH_REFRESH_TOKEN"] = "1//0g" + uuid.uuid4().hex
        print(f"AEP emulator on {emulator.url}; Airflow home {home}", flush=True)

        from airflow.utils import db

        db.initdb()
        try:
            from airflow.dag_processing.dagbag import DagBag
        except ImportError:  # Airflow 2
            from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
        bag = DagBag(str(REPO / "example_dags"))
        if args.dag not in bag.dag_ids:
            print(f"DAG {args.dag!r} not found; import errors: {bag.import_errors}", file=sys.stderr)
            return 2
        dag = bag.get_dag(args.dag)
        dag_run = dag.test()
        states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
        print(
            json.dumps(
                {"dag_id": args.dag, "state": str(getattr(dag_run.state, "value", dag_run.state)), "tasks": states},
                indent=2,
            )
        )
        created = {
            kind: [r["id"] for r in emulator.resources(kind)]
            for kind in ("connections", "sourceConnections", "targetConnections", "mappingSets", "flows", "runs")
            if emulator.resources(kind)
        }
        print("Created in the emulator:", json.dumps(created, indent=2))
        for task_id in ("create_bigquery_base_connection", "create_bigquery_base_connection_basic"):
            ti = dag_run.get_task_instance(task_id)
            if ti is not None:
                print(f"{task_id}: AEP base connection id {ti.xcom_pull(task_ids=task_id)}")
        return 0 if str(getattr(dag_run.state, "value", dag_run.state)) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
