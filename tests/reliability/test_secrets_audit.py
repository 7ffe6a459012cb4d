"""Secrets audit: run the example DAG (and one task per other accepted secret form) through Airflow's real
task path, ``airflow tasks test`` in subprocesses, then search everything a user or an attacker with log or
database access could read for every secret in every encoding.

Scanned: the task output of every subprocess, every file under ``$AIRFLOW_HOME/logs``, every text and blob
column of the metadata database (XComs, rendered template fields, trigger kwargs, ...), the texts of the
exceptions of the tasks that fail on purpose, and the URLs, query strings and headers of every request the
emulator received. Searched for: the Adobe client secrets, every IMS access token the emulator issued, the
service-account key JSON in each serialisation, its Base64, the private key and each PEM body line, the
Google OAuth client secret and refresh token; each raw, Base64 (standard, URL-safe, unpadded, and inside a
longer Base64 text), URL-encoded and JSON-escaped.

Also: TLS verification is on for every HTTP session the provider creates, and no code path turns it off.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import pytest

from tests.helpers.keys import make_service_account_key
from tests.reliability.support import REPORT

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
def _b64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
        if len(raw) >= 16:  # the secret inside a longer Base64 text, at each of the 3 alignments
            for offset in (1, 2):
                shifted = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
                forms.add(shifted[4:-4])
            forms.add(text.rstrip("=")[:-4])
    return forms


def encodings(secret: str) -> set[str]:
    """The secret raw, Base64 (several ways), URL-encoded and JSON-escaped; short fragments dropped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= _b64_forms(secret.encode("utf-8"))
    return {f for f in forms if len(f) >= 12}


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
@dataclass
class AuditRun:
    home: Path
    outputs: dict[str, str]
    returncodes: dict[str, int]
    emulator: AepEmulator
    secrets: Secrets
    key: dict[str, Any]
    seconds: float


def _airflow(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(airflow), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def audit(aep_emulator_server: AepEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditRun]:
    emu = aep_emulator_server
    emu.reset()
    emu.set_run_plan(duration=1.0)
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
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airflow_provider_aep\..*",
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
    outputs: dict[str, str] = {}
    codes: dict[str, int] = {}
    try:
        for step in (("db", "migrate"), ("dags", "reserialize")):
            done = _airflow(env, *step)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        for dag_id in (EXAMPLE_ID, FORMS_ID):
            done = _airflow(env, "dags", "trigger", dag_id, "--run-id", RUN_ID)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        for dag_id, tasks in ((EXAMPLE_ID, EXAMPLE_TASKS), (FORMS_ID, (*FORMS_OK, *FORMS_FAIL))):
            for task_id in tasks:
                done = _airflow(env, "tasks", "test", dag_id, task_id, RUN_ID)
                outputs[f"{dag_id}.{task_id}"] = done.stdout + "\n" + done.stderr
                codes[f"{dag_id}.{task_id}"] = done.returncode
    finally:
        google.stop()

    secrets = Secrets()
    secrets.add("Adobe client secret", emu.client_secret)
    secrets.add("refused Adobe client secret", WRONG_ADOBE_SECRET)
    for number, token in enumerate(sorted(emu._auth.tokens)):
        secrets.add(f"IMS access token {number}", token)
    key_secrets(key, secrets)
    secrets.add("Google client secret", GOOGLE_CLIENT_SECRET)
    secrets.add("Google refresh token", GOOGLE_REFRESH_TOKEN)
    yield AuditRun(home, outputs, codes, emu, secrets, key, time.monotonic() - started)


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
    return {
        str(p.relative_to(home)): p.read_text("utf-8", "replace") for p in (home / "logs").rglob("*") if p.is_file()
    }


def _task_succeeded(output: str) -> bool:
    return bool(re.search(r"new_state=success|Marking task as SUCCESS", output))


# ------------------------------------------------------------------------------------------ the tests
def test_every_task_ran_as_intended(audit: AuditRun) -> None:
    for task_id in EXAMPLE_TASKS:
        assert _task_succeeded(audit.outputs[f"{EXAMPLE_ID}.{task_id}"]), audit.outputs[f"{EXAMPLE_ID}.{task_id}"][
            -4000:
        ]
    for task_id in FORMS_OK:
        assert _task_succeeded(audit.outputs[f"{FORMS_ID}.{task_id}"]), audit.outputs[f"{FORMS_ID}.{task_id}"][-4000:]
    for task_id, reason in FORMS_FAIL.items():
        output = audit.outputs[f"{FORMS_ID}.{task_id}"]
        assert not _task_succeeded(output)
        assert reason in output, output[-4000:]  # the exception text reached the task log
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
    assert emu.requests("POST", "*/runs") and emu.requests("GET", "*/runs/*")  # the run was started and watched


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
    artefacts: dict[str, str] = {}
    artefacts.update({f"task output {k}": v for k, v in audit.outputs.items()})
    artefacts.update({f"log file {k}": v for k, v in log_files(audit.home).items()})
    artefacts.update({f"database table {k}": v for k, v in db_texts(audit.home / "airflow.db").items()})
    journal = audit.emulator.journal
    artefacts["emulator journal (URLs, query strings, headers)"] = "\n".join(
        f"{e.method} {e.path} {json.dumps(e.query)} {json.dumps(e.headers)}" for e in journal
    )
    leaks = {name: find_leaks(text, forms) for name, text in artefacts.items()}
    leaks = {name: found for name, found in leaks.items() if found}
    from airflow import __version__

    REPORT.secrets.append(
        {
            "run": f"example DAG ({len(EXAMPLE_TASKS)} tasks) + secret-forms DAG ({len(FORMS_OK) + len(FORMS_FAIL)} "
            f"tasks), one `airflow tasks test` subprocess each, Airflow {__version__}, {audit.seconds:.0f} s",
            "artefacts": f"{len(audit.outputs)} task outputs, {len(log_files(audit.home))} log files, "
            f"{len(db_texts(audit.home / 'airflow.db'))} DB tables, {len(journal)} requests",
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
