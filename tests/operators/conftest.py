"""Fixtures and helpers for the operator tests: emulators (Azure and AWS), a fake Google token
endpoint, DAG bodies for ``dag.test()``, and collectors of everything a run leaves behind.

The helpers are plain functions so test modules can import them
(``from tests.operators.conftest import ...``).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_aep.testing import AepEmulator
from tests.helpers.context import FakeTI  # noqa: F401  (re-exported for the tests here)
from tests.helpers.context import execute as run_execute  # noqa: F401

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BQ_SPEC_ID = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
FLOW = "/data/foundation/flowservice"
GOOGLE_CLIENT_ID = "123456789012-abcdefghijklmnopqrstuv0123456789.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "GOCSPX-s3cr3tClientValue_7fQ2xZ"
GOOGLE_REFRESH_TOKEN = "1//0gRefreshTokenValue-Xy9Zq8Wv7Ut6Sr5Qp4On3Ml2Kj1Ih0"
GOOGLE_ACCESS_TOKEN = "ya29.a0GoogleAccessTokenValue_abcdefghijklmnop"


# --------------------------------------------------------------------------------------- emulators
@pytest.fixture
def aep(aep_emulator: AepEmulator, monkeypatch: pytest.MonkeyPatch) -> AepEmulator:
    """The (Azure) emulator, reset, with ``aep_default`` pointing at it and millisecond backoff."""
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_emulator.airflow_connection_json(backoff_base=0.01))
    return aep_emulator


@pytest.fixture(scope="session")
def aws_emulator_server() -> Iterator[AepEmulator]:
    """A second emulator serving Experience Platform on AWS (BigQuery: service auth with datasetId)."""
    emulator = AepEmulator(cloud="aws").start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def aws_aep(aws_emulator_server: AepEmulator, monkeypatch: pytest.MonkeyPatch) -> AepEmulator:
    """The AWS emulator, reset, with ``aep_default`` pointing at it (``cloud`` extra = aws)."""
    aws_emulator_server.reset()
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aws_emulator_server.airflow_connection_json(backoff_base=0.01, cloud="aws")
    )
    return aws_emulator_server


def set_gcp_connection(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], conn_id: str = "google_cloud_default"):
    """An Airflow Google Cloud connection in the environment (no Google provider needed)."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "google_cloud_platform", "extra": extra})
    )


# --------------------------------------------------------------------------------------- key helpers
def b64(text: str | dict) -> str:
    if isinstance(text, dict):
        text = json.dumps(text)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_key_file_content(value: str) -> dict:
    """What Adobe would do with ``keyFileContent``: strict standard Base64, then JSON."""
    return json.loads(base64.b64decode(value, validate=True).decode("utf-8"))


def private_key_body(key: dict) -> str:
    """The Base64 body of the PEM private key, one string without the armour lines."""
    return "".join(line for line in key["private_key"].splitlines() if "PRIVATE KEY" not in line)


# --------------------------------------------------------------------------------------- DAG bodies
def dag_body(tasks: str, **values: Any) -> str:
    """A DAG file body (for ``tests.helpers.dags``): ``values`` become module-level constants."""
    import textwrap

    constants = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return (
        "from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator\n"
        + constants
        + 'with DAG(DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:\n'
        + textwrap.indent(textwrap.dedent(tasks).strip("\n"), "    ")
        + "\n"
    )


def run_text(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """Everything a run printed or logged so far, with the tracebacks of logged exceptions."""
    out, err = capfd.readouterr()
    parts = [out, err]
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(parts)


def journal_posts(emu: AepEmulator) -> list[Any]:
    return emu.requests("POST", f"{FLOW}/connections")


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def all_xcoms(dag_id: str) -> list[tuple[str, str, Any]]:
    """Every XCom row of a DAG, as (task_id, key, stored value) on Airflow 3.3 and 2.11."""
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as model  # Airflow 3
    except ImportError:
        from airflow.models.xcom import BaseXCom as model  # type: ignore[no-redef]  # Airflow 2
    with create_session() as session:
        rows = session.query(model).filter(model.dag_id == dag_id).all()
        return [(r.task_id, r.key, r.value) for r in rows]


def rendered_fields(dag_id: str) -> dict[str, dict[str, Any]]:
    """The stored rendered template fields (``RenderedTaskInstanceFields``) of a DAG, by task."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as rtif
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(rtif).filter(rtif.dag_id == dag_id).all()
        return {r.task_id: dict(r.rendered_fields or {}) for r in rows}


# --------------------------------------------------------------------------------------- Google token endpoint
class GoogleTokenServer:
    """A tiny OAuth token endpoint on 127.0.0.1 standing in for https://oauth2.googleapis.com/token."""

    def __init__(self) -> None:
        self.mode = "ok"  # or "invalid_grant"
        self.requests: list[dict[str, str]] = []
        self.access_token = GOOGLE_ACCESS_TOKEN
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                server.requests.append(form)
                if server.mode == "ok":
                    status = 200
                    body = {"access_token": server.access_token, "expires_in": 3600, "token_type": "Bearer"}
                else:
                    status = 400
                    body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/token"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def google_token_server() -> Iterator[GoogleTokenServer]:
    server = GoogleTokenServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def tmp_key_file(tmp_path: Path, service_account_key: dict) -> Path:
    path = tmp_path / "sa-key.json"
    path.write_text(json.dumps(service_account_key, indent=2))
    return path
