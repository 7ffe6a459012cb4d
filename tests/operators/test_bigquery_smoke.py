import json, logging
from tests.helpers.dags import run_dag, task_states, xcom


def test_smoke(airflow_db, aep_emulator, monkeypatch, dags_folder, service_account_key, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_emulator.airflow_connection_json(backoff_base=0.01))
    body = f"""
from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator
KEY = {service_account_key!r}
with DAG(DAG_ID, schedule=None, start_date=pendulum.datetime(2026,1,1,tz="UTC")) as dag:
    a = CreateBigQueryBaseConnectionOperator(task_id="create", name="bq", key_file_content=KEY)
    b = CreateBigQueryBaseConnectionOperator(task_id="bad", name="bq", key_file_content=KEY, if_exists="error")
    a >> b
"""
    dr = run_dag(dags_folder, body)
    out, err = capfd.readouterr()
    F = open("/tmp/smoke.txt", "a")
    print("STATES", task_states(dr), file=F)
    print("XCOM", xcom(dr, "create"), repr(xcom(dr, "create", "etag")), xcom(dr, "create", "aep_url"), file=F)
    print("EMU", [(c["id"], c["etag"]) for c in aep_emulator.resources("connections")], file=F)
    F.close()
    out, err = capfd.readouterr()
    print("CAPLOG", [r.getMessage()[:300] for r in caplog.records if "already" in r.getMessage() or r.exc_info])
    print("OUTHAS", "already exists" in out, "ERRHAS", "already exists" in err)
    import re

    print([l[:300] for l in (out + err).splitlines() if "already exists" in l])
    assert 0
