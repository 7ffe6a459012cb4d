"""Secrets audit: run the example DAG (and one task per other accepted secret form) through Airflow's real
worker path, then search everything a user or an attacker with log or database access could read for
every secret in every encoding.

How the tasks run: as an executor's worker runs them, so that Airflow writes its task log files through
its own masking: on Airflow 3 ``supervise_task()`` (what the LocalExecutor's workers call) with the
task's log file and the Execution API in-process (as the triggerer and the dag-processor use it); on
Airflow 2 ``airflow tasks run --local`` (what the Local and Celery executors run). A real ``airflow
triggerer`` runs the deferred sensor's trigger and writes its own log file beside the task's.
(``airflow tasks test`` writes no log file on Airflow 3, so it would leave that category empty.)

Scanned: the output of every worker process and of the triggerer, every file under ``$AIRFLOW_HOME/logs``
(each task's log file is required to exist), every text and blob column of the metadata database
(XComs, rendered template fields, trigger kwargs, ...), the texts of the exceptions of the tasks that
fail on purpose, and the URLs, query strings and headers of every request the emulator received.
Searched for: the Adobe client secrets, every IMS access token the emulator issued, the service-account
key JSON in each serialisation, its Base64, the private key and each PEM body line, the Google OAuth
client secret and refresh token; each raw, Base64 (standard, URL-safe, unpadded, and inside a longer
Base64 text), URL-encoded and JSON-escaped.

Also: TLS verification is on for every HTTP session the provider creates, and no code path turns it off.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers.keys import make_service_account_key
from tests.reliability.support import REPORT, encodings, record_issued_tokens

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_aep.testing import AepEmulator

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "airflow_provider_aep"
EXAMPLE_DAG = REPO / "example_dags" / "example_bigquery_to_aep_dataflow.py"
EXAMPLE_ID = "example_bigquery_to_aep_dataflow"
FORMS_ID = "aep_secret_forms_audit"
RUN_ID = "secrets_audit_run"
EXAMPLE_TASKS = (
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
)
GOOGLE_CLIENT_ID = "123456789012-auditclientabcdefghijklmnop.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "GOCSPX-audit-Cl1entS3cret_9xQ2"
GOOGLE_REFRESH_TOKEN = "1//0gAuditRefreshT0ken-Xy9Zq8Wv7Ut6Sr5Qp4On3Ml2Kj1Ih0"
WRONG_ADOBE_SECRET = "p8e-Wr0ngAdobeClientSecret-4t7Q"
# The secret-forms DAG: one base-connection task per other form of the Google credentials, plus tasks that
# fail on purpose (a refused Adobe credential, a refresh token Google rejects) so exception texts are scanned.
FORMS_DAG = """
from __future__ import annotations
import os
import pendulum
from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    CreateBigQueryBaseConnectionOperator(
        task_id="key_file_content_json_text", name="audit-json-text",
        key_file_content=os.environ.get("AEP_AUDIT_KEY_JSON", "{{}}"),
    )
    CreateBigQueryBaseConnectionOperator(
        task_id="key_file_content_base64", name="audit-base64",
        key_file_content=os.environ.get("AEP_AUDIT_KEY_B64", "e30="),
    )
    CreateBigQueryBaseConnectionOperator(
        task_id="gcp_conn_legacy_keyfile_json_string", name="audit-gcp-legacy", gcp_conn_id="gcp_legacy_string",
    )
    CreateBigQueryBaseConnectionOperator(
        task_id="gcp_conn_key_path", name="audit-gcp-key-path", gcp_conn_id="gcp_key_path",
    )
    CreateBigQueryBaseConnectionOperator(
        task_id="basic_auth_from_variables", name="audit-basic", project_id="acme-crm-prod",
        google_client_id="{google_client_id}",
        google_client_secret="{{{{ var.value.bq_oauth_client_value }}}}",
        google_refresh_token="{{{{ var.value.bq_oauth_grant_value }}}}",
    )
    CreateBigQueryBaseConnectionOperator(
        task_id="fails_adobe_refuses_credential", name="audit-refused", aep_conn_id="aep_refused",
        key_file_content=os.environ.get("AEP_AUDIT_KEY_B64", "e30="),
    )
    CreateBigQueryBaseConnectionOperator(
        task_id="fails_google_rejects_refresh_token", name="audit-google-rejects", project_id="acme-crm-prod",
        google_client_id="{google_client_id}",
        google_client_secret="{{{{ var.value.bq_oauth_client_value }}}}",
        google_refresh_token="{{{{ var.value.bq_oauth_grant_value }}}}",
        verify_google_credentials=True,
        google_token_uri=os.environ.get("AEP_AUDIT_GOOGLE_TOKEN_URI"),
    )
"""
FORMS_OK = (
    "key_file_content_json_text",
    "key_file_content_base64",
    "gcp_conn_legacy_keyfile_json_string",
    "gcp_conn_key_path",
    "basic_auth_from_variables",
)
FORMS_FAIL = {
    "fails_adobe_refuses_credential": "invalid_client",
    "fails_google_rejects_refresh_token": "invalid_grant",
}


# ------------------------------------------------------------------------------------------ secret forms
@dataclass
class Secrets:
    named: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        if value and len(value) >= 8:
            self.named[name] = value

    def forms(self) -> dict[str, str]:
        """encoded form -> name of the secret it encodes."""
        out: dict[str, str] = {}
        for name, value in self.named.items():
            for form in encodings(value):
                out.setdefault(form, name)
        return out


def key_secrets(key: dict[str, Any], secrets: Secrets) -> None:
    for label, text in (
        ("key JSON", json.dumps(key)),
        ("key JSON (compact)", json.dumps(key, separators=(",", ":"))),
        ("key JSON (indented file)", json.dumps(key, indent=2)),
    ):
        secrets.add(label, text)
    secrets.add("private key", key["private_key"])
    for number, line in enumerate(key["private_key"].splitlines()):
        if "PRIVATE KEY" not in line and len(line) >= 16:
            secrets.add(f"private key PEM line {number}", line)


def find_leaks(text: str, forms: dict[str, str]) -> list[str]:
    return sorted({name for form, name in forms.items() if form in text})


# ------------------------------------------------------------------------------------------ a Google that refuses
class RefusingGoogle:
    """An OAuth token endpoint on loopback that answers every refresh with invalid_grant."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# ------------------------------------------------------------------------------------------ the audit run
# Airflow 3's worker, as the LocalExecutor runs it: supervise_task() forks the task process and writes the
# task's log file (JSON lines, masked); the Execution API runs in-process, as in the triggerer. A task that
# defers is resumed once the triggerer has fired its event, as the scheduler would queue it again.
WORKER_AF3 = """
import sys, time
from sqlalchemy import select
from airflow.executors.workloads import BundleInfo, ExecuteTask
from airflow.jobs.triggerer_job_runner import in_process_api_server
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.sdk.api.client import Client
from airflow.sdk.execution_time.supervisor import supervise_task
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState, TaskInstanceState

dag_id, run_id, task_ids = sys.argv[1], sys.argv[2], sys.argv[3:]
# One Execution API client for the worker's life, as the triggerer builds it.
API = Client(base_url=None, token="", dry_run=True, transport=in_process_api_server().transport)
API.base_url = "http://in-process.invalid./"
# Loaded once before the task processes are forked, as a long-lived worker has them loaded.
import airflow.sdk.execution_time.task_runner  # noqa
import airflow_provider_aep.operators.bigquery, airflow_provider_aep.operators.flow_service  # noqa
import airflow_provider_aep.sensors.flow_service  # noqa


def state(task_id):
    with create_session() as session:
        return session.scalar(select(TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id))


def queue(task_id):
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        run.state = DagRunState.RUNNING
        ti = session.scalar(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id))
        if ti.state is None:
            ti.try_number += 1  # what the scheduler does when it schedules a task
        ti.state = TaskInstanceState.QUEUED
        session.flush()
        return ExecuteTask.make(ti, bundle_info=BundleInfo(name="dags-folder"))


for task_id in task_ids:
    print(f"AUDIT-TASK-START {task_id}", flush=True)
    while True:
        workload = queue(task_id)
        supervise_task(ti=workload.ti, bundle_info=workload.bundle_info, dag_rel_path=workload.dag_rel_path,
                       token=workload.token, client=API, log_path=workload.log_path,
                       subprocess_logs_to_stdout=True)
        # SCHEDULED here: it deferred and the triggerer already fired before supervise_task returned
        if state(task_id) not in (TaskInstanceState.DEFERRED, TaskInstanceState.SCHEDULED):
            break
        deadline = time.monotonic() + 120
        while state(task_id) == TaskInstanceState.DEFERRED and time.monotonic() < deadline:
            time.sleep(0.5)
        if state(task_id) != TaskInstanceState.SCHEDULED:
            break
        print(f"AUDIT-TASK-RESUMED {task_id}", flush=True)
    print(f"AUDIT-TASK-END {task_id} {state(task_id)}", flush=True)
"""


@dataclass
class AuditRun:
    home: Path
    outputs: dict[str, str]  # "dag.task" -> what the worker process printed for it
    states: dict[str, str | None]  # "dag.task" -> final task-instance state
    resumed: set[str]  # "dag.task" of the tasks that deferred and were resumed after the trigger fired
    triggerer_output: str
    emulator: AepEmulator
    secrets: Secrets
    key: dict[str, Any]
    seconds: float


def _airflow(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(airflow), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _ti_state(home: Path, dag_id: str, task_id: str) -> str | None:
    with sqlite3.connect(home / "airflow.db", timeout=30) as conn:
        row = conn.execute(
            "SELECT state FROM task_instance WHERE dag_id=? AND run_id=? AND task_id=?", (dag_id, RUN_ID, task_id)
        ).fetchone()
    return None if row is None else row[0]


def _run_af3(env: dict[str, str], dag_id: str, tasks: tuple[str, ...], run: dict[str, Any]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER_AF3, dag_id, RUN_ID, *tasks],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    text = done.stdout + "\n" + done.stderr
    assert done.returncode == 0, text[-4000:]
    for task_id in tasks:
        key = f"{dag_id}.{task_id}"
        section = text.split(f"AUDIT-TASK-START {task_id}\n", 1)[-1].split(f"AUDIT-TASK-END {task_id} ", 1)
        assert len(section) == 2, f"{key} did not run:\n{text[-4000:]}"
        run["outputs"][key] = section[0]
        run["states"][key] = section[1].split("\n", 1)[0].strip() or None
        if f"AUDIT-TASK-RESUMED {task_id}" in section[0]:
            run["resumed"].add(key)
    run["outputs"][f"{dag_id} worker (whole output)"] = text


def _queue_af2(home: Path, dag_id: str, task_id: str) -> None:
    """What Airflow 2's scheduler does before a worker runs a task: a new try for a new task, then queued."""
    with sqlite3.connect(home / "airflow.db", timeout=30) as conn:
        conn.execute(
            "UPDATE task_instance SET try_number = try_number + (CASE WHEN state IS NULL THEN 1 ELSE 0 END), "
            "state = 'queued' WHERE dag_id=? AND run_id=? AND task_id=?",
            (dag_id, RUN_ID, task_id),
        )


def _run_af2(env: dict[str, str], home: Path, dag_id: str, tasks: tuple[str, ...], run: dict[str, Any]) -> None:
    for task_id in tasks:
        key = f"{dag_id}.{task_id}"
        outputs = []
        while True:
            _queue_af2(home, dag_id, task_id)
            done = _airflow(env, "tasks", "run", "--local", dag_id, task_id, RUN_ID)
            outputs.append(done.stdout + "\n" + done.stderr)
            # "scheduled" here: it deferred and the triggerer already fired before the worker exited
            if _ti_state(home, dag_id, task_id) not in ("deferred", "scheduled"):
                break
            deadline = time.monotonic() + 120
            while _ti_state(home, dag_id, task_id) == "deferred" and time.monotonic() < deadline:
                time.sleep(0.5)
            if _ti_state(home, dag_id, task_id) != "scheduled":
                break
            run["resumed"].add(key)
        run["outputs"][key] = "\n".join(outputs)
        run["states"][key] = _ti_state(home, dag_id, task_id)


def _finish_runs_after_the_trigger_polled(emu: AepEmulator, stop: threading.Event) -> None:
    """The dataflow run stays in progress (so the sensor must defer) until the trigger has polled it once."""
    while not stop.wait(0.1):
        if len(emu.requests("GET", "*/runs/*")) >= 2:  # the sensor's first look, then the trigger's
            emu.advance_clock(3600)
            return


@pytest.fixture(scope="module")
def audit(aep_emulator_server: AepEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditRun]:
    from airflow_provider_aep._compat import AIRFLOW_V3

    emu = aep_emulator_server
    emu.reset()
    emu.set_run_plan(duration=3600.0)
    google = RefusingGoogle()
    started = time.monotonic()
    home = tmp_path_factory.mktemp("secrets-audit-airflow")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLE_DAG, dags / EXAMPLE_DAG.name)
    (dags / f"{FORMS_ID}.py").write_text(FORMS_DAG.format(dag_id=FORMS_ID, google_client_id=GOOGLE_CLIENT_ID))
    key = make_service_account_key(project_id="acme-crm-prod")
    key_json = json.dumps(key)
    key_path = home / "sa-key.json"
    key_path.write_text(json.dumps(key, indent=2))
    refused_conn = emu.airflow_connection(backoff_base=0.01)
    refused_conn["password"] = WRONG_ADOBE_SECRET

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airflow_provider_aep\..*",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW_CONN_AEP_DEFAULT": emu.airflow_connection_json(backoff_base=0.01),
            "AIRFLOW_CONN_AEP_REFUSED": json.dumps(refused_conn),
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(
                {"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": key}}
            ),
            "AIRFLOW_CONN_GCP_LEGACY_STRING": json.dumps(
                {
                    "conn_type": "google_cloud_platform",
                    "extra": {"extra__google_cloud_platform__keyfile_dict": key_json},
                }
            ),
            "AIRFLOW_CONN_GCP_KEY_PATH": json.dumps(
                {"conn_type": "google_cloud_platform", "extra": {"key_path": str(key_path)}}
            ),
            # Neutral variable names: Airflow would mask '*secret*' names by itself; the provider must not rely on it.
            "AIRFLOW_VAR_BQ_OAUTH_CLIENT_VALUE": GOOGLE_CLIENT_SECRET,
            "AIRFLOW_VAR_BQ_OAUTH_GRANT_VALUE": GOOGLE_REFRESH_TOKEN,
            "AEP_AUDIT_KEY_JSON": key_json,
            "AEP_AUDIT_KEY_B64": base64.b64encode(key_json.encode()).decode(),
            "AEP_AUDIT_GOOGLE_TOKEN_URI": google.url,
        }
    )
    run: dict[str, Any] = {"outputs": {}, "states": {}, "resumed": set()}
    triggerer: subprocess.Popen[bytes] | None = None
    triggerer_log = home / "triggerer-output.log"
    stop_watch = threading.Event()
    watcher = threading.Thread(target=_finish_runs_after_the_trigger_polled, args=(emu, stop_watch), daemon=True)
    with record_issued_tokens() as tokens:
        try:
            for step in (("db", "migrate"), ("dags", "reserialize")):
                done = _airflow(env, *step)
                assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            for dag_id in (EXAMPLE_ID, FORMS_ID):
                done = _airflow(env, "dags", "trigger", dag_id, "--run-id", RUN_ID)
                assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            with triggerer_log.open("wb") as out:
                triggerer = subprocess.Popen(
                    [str(Path(sys.executable).with_name("airflow")), "triggerer"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stopped with its children below
                )
            watcher.start()
            for dag_id, tasks in ((EXAMPLE_ID, EXAMPLE_TASKS), (FORMS_ID, (*FORMS_OK, *FORMS_FAIL))):
                if AIRFLOW_V3:
                    _run_af3(env, dag_id, tasks, run)
                else:
                    _run_af2(env, home, dag_id, tasks, run)
        finally:
            stop_watch.set()
            if triggerer is not None:
                _stop_group(triggerer)
            google.stop()

    secrets = Secrets()
    secrets.add("Adobe client secret", emu.client_secret)
    secrets.add("refused Adobe client secret", WRONG_ADOBE_SECRET)
    assert len(tokens) == emu.token_requests, "the token recorder missed tokens the emulator issued"
    for number, token in enumerate(tokens):
        secrets.add(f"IMS access token {number}", token)
    key_secrets(key, secrets)
    secrets.add("Google client secret", GOOGLE_CLIENT_SECRET)
    secrets.add("Google refresh token", GOOGLE_REFRESH_TOKEN)
    yield AuditRun(
        home,
        run["outputs"],
        run["states"],
        run["resumed"],
        triggerer_log.read_text("utf-8", "replace"),
        emu,
        secrets,
        key,
        time.monotonic() - started,
    )


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group this fixture started (the triggerer and its trigger runner), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# ------------------------------------------------------------------------------------------ artefacts
def db_texts(db: Path) -> dict[str, str]:
    """Every text and blob value of every table of the metadata database, one text per table."""
    out: dict[str, str] = {}
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            parts = []
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        parts.append(value.decode("utf-8", "replace"))
                    elif isinstance(value, str):
                        parts.append(value)
            out[table] = "\n".join(parts)
    return out


def log_files(home: Path) -> dict[str, str]:
    """Every file Airflow wrote under ``$AIRFLOW_HOME/logs`` (task logs, trigger logs, anything else)."""
    return {
        str(p.relative_to(home)): p.read_text("utf-8", "replace") for p in (home / "logs").rglob("*") if p.is_file()
    }


def task_log_files(home: Path, dag_id: str, task_id: str) -> dict[str, str]:
    """The log files of one task instance: ``attempt=N.log`` and the triggerer's ``...trigger.N.log``."""
    folder = home / "logs" / f"dag_id={dag_id}" / f"run_id={RUN_ID}" / f"task_id={task_id}"
    return {p.name: p.read_text("utf-8", "replace") for p in sorted(folder.glob("*")) if p.is_file()}


def _worker_path() -> str:
    from airflow_provider_aep._compat import AIRFLOW_V3

    if AIRFLOW_V3:
        return "the LocalExecutor worker's `supervise_task()` (Execution API in-process)"
    return "`airflow tasks run --local`"


# ------------------------------------------------------------------------------------------ the tests
def test_every_task_ran_as_intended(audit: AuditRun) -> None:
    expected = {f"{EXAMPLE_ID}.{t}": "success" for t in EXAMPLE_TASKS}
    expected.update({f"{FORMS_ID}.{t}": "success" for t in FORMS_OK})
    expected.update({f"{FORMS_ID}.{t}": "failed" for t in FORMS_FAIL})
    for key, state in expected.items():
        assert audit.states.get(key) == state, f"{key}: {audit.states.get(key)}\n{audit.outputs.get(key, '')[-4000:]}"
        dag_id, task_id = key.split(".", 1)
        files = task_log_files(audit.home, dag_id, task_id)
        assert any(name.startswith("attempt=") for name in files), f"{key} wrote no task log file: {sorted(files)}"
    for task_id, reason in FORMS_FAIL.items():
        text = "\n".join(task_log_files(audit.home, FORMS_ID, task_id).values())
        assert reason in text, text[-4000:]  # the exception text reached the task's log file
    # The sensor deferred, the real triggerer ran its trigger (and wrote its log), and the task resumed.
    assert f"{EXAMPLE_ID}.wait_for_run" in audit.resumed, audit.outputs[f"{EXAMPLE_ID}.wait_for_run"][-4000:]
    wait_logs = task_log_files(audit.home, EXAMPLE_ID, "wait_for_run")
    trigger_logs = [text for name, text in wait_logs.items() if ".trigger." in name]
    assert trigger_logs, f"no trigger log file: {sorted(wait_logs)}\n{audit.triggerer_output[-4000:]}"
    assert any("Dataflow run" in text for text in trigger_logs), trigger_logs  # the trigger's own lines
    emu = audit.emulator
    names = sorted(c["name"] for c in emu.resources("connections"))
    assert names == sorted(
        [
            "bigquery-crm-journey",
            "audit-json-text",
            "audit-base64",
            "audit-gcp-legacy",
            "audit-gcp-key-path",
            "audit-basic",
        ]
    )
    assert emu.resources("flows") == [] and emu.resources("sourceConnections") == []  # teardown ran
    assert emu.requests("POST", "*/runs") and len(emu.requests("GET", "*/runs/*")) >= 3  # started, watched twice


def test_detector_finds_what_it_looks_for(audit: AuditRun) -> None:
    """Control: the stored (unmasked) connections in the emulator hold the key's Base64 and the Google secrets."""
    forms = audit.secrets.forms()
    stored = json.dumps(audit.emulator.resources("connections"))
    found = find_leaks(stored, forms)
    assert "key JSON" in found or "key JSON (compact)" in found
    assert "Google client secret" in found and "Google refresh token" in found
    assert any(name.startswith("private key PEM line") for name in found)
    assert len([n for n in audit.secrets.named if n.startswith("IMS access token")]) >= 2


def test_no_secret_in_task_output_logs_database_or_requests(audit: AuditRun) -> None:
    forms = audit.secrets.forms()
    files = log_files(audit.home)
    tasks = len(EXAMPLE_TASKS) + len(FORMS_OK) + len(FORMS_FAIL)
    assert len(files) > tasks, f"expected a log file per task and the trigger's, found {sorted(files)}"
    artefacts: dict[str, str] = {}
    artefacts.update({f"worker output {k}": v for k, v in audit.outputs.items()})
    artefacts["triggerer output"] = audit.triggerer_output
    artefacts.update({f"log file {k}": v for k, v in files.items()})
    tables = db_texts(audit.home / "airflow.db")
    artefacts.update({f"database table {k}": v for k, v in tables.items()})
    journal = audit.emulator.journal
    artefacts["emulator journal (URLs, query strings, headers)"] = "\n".join(
        f"{e.method} {e.path} {json.dumps(e.query)} {json.dumps(e.headers)}" for e in journal
    )
    leaks = {name: find_leaks(text, forms) for name, text in artefacts.items()}
    leaks = {name: found for name, found in leaks.items() if found}
    from airflow import __version__

    trigger_files = len([name for name in files if ".trigger." in name])
    REPORT.secrets.append(
        {
            "run": f"example DAG ({len(EXAMPLE_TASKS)} tasks) + secret-forms DAG ({len(FORMS_OK) + len(FORMS_FAIL)} "
            f"tasks), each task run by {_worker_path()}, the sensor's trigger by `airflow triggerer`, "
            f"Airflow {__version__}, {audit.seconds:.0f} s",
            "artefacts": f"{len(audit.outputs)} worker outputs + the triggerer's, {len(files)} log files "
            f"({trigger_files} of the triggerer), {len(tables)} DB tables, {len(journal)} requests",
            "forms": f"{len(audit.secrets.named)} secrets, {len(forms)} encoded forms",
            "leaks": "none" if not leaks else "; ".join(f"{k}: {v}" for k, v in leaks.items()),
        }
    )
    assert not leaks, leaks


def test_xcoms_and_rendered_fields_hold_no_secret(audit: AuditRun) -> None:
    """The two places the UI shows task data, checked on their own (also covered by the whole-database scan)."""
    forms = audit.secrets.forms()
    texts = db_texts(audit.home / "airflow.db")
    assert texts.get("xcom"), "no XCom was stored: the audit did not exercise XComs"
    assert "rendered_task_instance_fields" in texts
    assert find_leaks(texts["xcom"], forms) == []
    assert find_leaks(texts["rendered_task_instance_fields"], forms) == []


# ------------------------------------------------------------------------------------------ TLS
def test_tls_verification_is_on_for_every_session(aep_connection: str) -> None:
    import ssl

    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook
    from airflow_provider_aep.hooks.aep_async import close_shared_clients, shared_client

    hook = AdobeExperiencePlatformHook()
    assert hook.session.verify is True

    async def client_verifies() -> tuple[int, bool]:
        client = shared_client()
        try:
            context = client._transport._pool._ssl_context
            return context.verify_mode, context.check_hostname
        finally:
            await close_shared_clients()

    import asyncio

    verify_mode, check_hostname = asyncio.run(client_verifies())
    assert verify_mode == ssl.CERT_REQUIRED
    assert check_hostname is True

    import google.auth.transport.requests

    assert google.auth.transport.requests.Request().session.verify is True


def test_no_code_path_turns_tls_verification_off() -> None:
    pattern = re.compile(
        r"verify\s*=\s*(False|0|None)\b|\.verify\s*=\s*(False|0)|CERT_NONE|check_hostname\s*=\s*False"
        r"|_create_unverified_context|disable_warnings|InsecureRequestWarning|PYTHONHTTPSVERIFY"
    )
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("host", "extra"),
    [("http://platform.adobe.io", {}), ("https://platform.adobe.io", {"ims_url": "http://ims-na1.adobelogin.com"})],
    ids=["platform-over-http", "ims-over-http"],
)
def test_plain_http_is_refused_except_on_loopback(host: str, extra: dict) -> None:
    from types import SimpleNamespace

    from airflow_provider_aep.exceptions import AepInputError
    from airflow_provider_aep.hooks._settings import AepConnectionSettings

    loopback = SimpleNamespace(
        conn_id="aep",
        login="id",
        password="pw",
        host="http://127.0.0.1:8080",
        port=None,
        extra_dejson={"org_id": "0123ABCD@AdobeOrg", "ims_url": "http://localhost:8080"},
    )
    assert AepConnectionSettings.from_connection(loopback).platform_url == "http://127.0.0.1:8080"
    conn = SimpleNamespace(
        conn_id="aep",
        login="id",
        password="pw",
        host=host,
        port=None,
        extra_dejson={"org_id": "0123ABCD@AdobeOrg", **extra},
    )
    with pytest.raises(AepInputError, match="https"):
        AepConnectionSettings.from_connection(conn)
