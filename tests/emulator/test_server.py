"""Start-up, lifecycle, CLI and import weight."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import requests

from airflow_provider_aep.testing import AepEmulator


def test_starts_fast_and_stops() -> None:
    began = time.perf_counter()
    emu = AepEmulator().start()
    try:
        assert time.perf_counter() - began < 0.5
        assert emu.url.startswith("http://127.0.0.1:")
        assert emu.ims_url == emu.url
        response = requests.post(f"{emu.ims_url}/ims/token/v3", data={}, timeout=5)
        assert response.status_code == 400
    finally:
        emu.stop()
    emu.stop()  # idempotent


def test_context_manager_closes_keep_alive_connections() -> None:
    session = requests.Session()
    with AepEmulator() as emu:
        url = f"{emu.url}/ims/token/v3"
        assert session.post(url, data={"client_id": "x"}, timeout=5).status_code == 400
    try:
        session.post(url, data={"client_id": "x"}, timeout=2)
        raise AssertionError("the stopped emulator still answered")
    except requests.ConnectionError:
        pass


def test_airflow_connection(aep_emulator: AepEmulator) -> None:
    conn = aep_emulator.airflow_connection(scope="openid,AdobeID")
    assert conn == {
        "conn_type": "adobe_experience_platform",
        "login": "aep-test-client",
        "password": "aep-test-secret",
        "host": aep_emulator.url,
        "extra": {
            "org_id": "TESTORG0123456789@AdobeOrg",
            "sandbox_name": "prod",
            "ims_url": aep_emulator.ims_url,
            "cloud": "azure",
            "scope": "openid,AdobeID",
        },
    }
    assert json.loads(aep_emulator.airflow_connection_json()) == aep_emulator.airflow_connection()


def test_aep_connection_fixture(aep_connection: str, aep_emulator: AepEmulator) -> None:
    import os

    assert aep_connection == "aep_default"
    assert json.loads(os.environ["AIRFLOW_CONN_AEP_DEFAULT"])["host"] == aep_emulator.url


def test_import_is_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import airflow_provider_aep.testing.pytest_plugin; "
        "import airflow_provider_aep.testing; "
        "bad = [m for m in ('airflow', 'requests', 'httpx', 'google.auth', 'jsonschema') if m in sys.modules]; "
        "print(bad, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    bad, _elapsed = out.stdout.rsplit("]", 1)
    assert bad + "]" == "[]", out.stdout


def test_cli_prints_url_and_connection() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_aep.testing", "--cloud", "aws"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        second = proc.stdout.readline()  # type: ignore[union-attr]
        url = first.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), first
        assert second.startswith("AIRFLOW_CONN_AEP_DEFAULT='")
        conn = json.loads(second.strip()[len("AIRFLOW_CONN_AEP_DEFAULT='") : -1])
        assert conn["host"] == url
        assert conn["extra"]["cloud"] == "aws"
        response = requests.post(f"{url}/ims/token/v3", data={"client_id": "nope"}, timeout=5)
        assert response.json()["error"] == "invalid_client"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
