"""Fault injection: status + Retry-After, drop, delay, after_apply, raw bodies, times/skip."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import requests

from tests.emulator.support import Api, assert_flow_error, service_connection_body

if TYPE_CHECKING:
    from airflow_provider_aep.testing import AepEmulator


def test_429_with_retry_after(api: Api, aep_emulator: AepEmulator) -> None:
    api.token()
    fault = aep_emulator.inject_fault("GET", "/data/foundation/flowservice/connections", status=429, retry_after=7)
    response = api.get("/connections")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"error_code": "429050", "message": "Too many requests"}
    assert fault.hits == 1
    assert api.get("/connections").status_code == 200  # times=1 by default


@pytest.mark.parametrize(("status", "code"), [(500, "1102-500"), (503, "1103-503"), (504, "1104-504")])
def test_default_5xx_bodies(api: Api, aep_emulator: AepEmulator, status: int, code: str) -> None:
    api.token()
    aep_emulator.inject_fault(path="*/connections", status=status)
    assert_flow_error(api.get("/connections"), code)


def test_times_and_skip(api: Api, aep_emulator: AepEmulator) -> None:
    api.token()
    fault = aep_emulator.inject_fault("GET", "*/connections", status=503, times=2, skip=1)
    statuses = [api.get("/connections").status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert fault.hits == 2
    forever = aep_emulator.inject_fault("POST", "*/connections", status=500, times=None)
    for _ in range(3):
        assert api.post("/connections", {}).status_code == 500
    assert forever.hits == 3
    aep_emulator.clear_faults()
    assert api.post("/connections", {}).status_code == 400


def test_drop(api: Api, aep_emulator: AepEmulator) -> None:
    api.token()
    aep_emulator.inject_fault("GET", "*/connections", drop=True)
    with pytest.raises(requests.ConnectionError):
        api.get("/connections")
    assert api.get("/connections").status_code == 200
    dropped = aep_emulator.requests("GET", "*/connections")[0]
    assert dropped.status == 0
    assert dropped.fault


def test_delay(api: Api, aep_emulator: AepEmulator) -> None:
    api.token()
    aep_emulator.inject_fault("GET", "*/connections", delay=0.3)
    began = time.perf_counter()
    assert api.get("/connections").status_code == 200
    assert time.perf_counter() - began >= 0.3
    aep_emulator.inject_fault("GET", "*/connections", delay=2.0)
    url = f"{aep_emulator.url}/data/foundation/flowservice/connections"
    with pytest.raises(requests.Timeout):
        requests.get(url, headers=api.headers(), timeout=0.3)


def test_after_apply_creates_and_answers_500(api: Api, aep_emulator: AepEmulator, service_account_key: dict) -> None:
    api.token()
    aep_emulator.inject_fault("POST", "*/connections", status=500, after_apply=True)
    response = api.post("/connections", service_connection_body(service_account_key, name="ambiguous"))
    assert_flow_error(response, "1102-500")
    assert [c["name"] for c in aep_emulator.resources("connections")] == ["ambiguous"]
    listed = api.get("/connections", params={"property": "name==ambiguous"}).json()["items"]
    assert len(listed) == 1


def test_after_apply_drop(api: Api, aep_emulator: AepEmulator, service_account_key: dict) -> None:
    api.token()
    aep_emulator.inject_fault("POST", "*/connections", drop=True, after_apply=True)
    with pytest.raises(requests.ConnectionError):
        api.post("/connections", service_connection_body(service_account_key))
    assert len(aep_emulator.resources("connections")) == 1


def test_raw_html_body(api: Api, aep_emulator: AepEmulator) -> None:
    api.token()
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    aep_emulator.inject_fault(path="*/connections", status=502, raw_body=html)
    response = api.get("/connections")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == html


def test_custom_body_and_headers(api: Api, aep_emulator: AepEmulator) -> None:
    api.token()
    aep_emulator.inject_fault(path="*/connections", status=403, body={"x": 1}, headers={"x-extra": "1"})
    response = api.get("/connections")
    assert response.json() == {"x": 1}
    assert response.headers["x-extra"] == "1"


def test_ims_faults(api: Api, aep_emulator: AepEmulator) -> None:
    aep_emulator.inject_fault("POST", "/ims/token/v3", status=503)
    response = api.ims()
    assert response.status_code == 503
    assert response.json()["error"] == "server_error"
    assert aep_emulator.token_requests == 0
    aep_emulator.inject_fault("POST", "/ims/token/v3", status=500, after_apply=True)
    assert api.ims().status_code == 500
    assert aep_emulator.token_requests == 1
    assert api.ims().status_code == 200


def test_invalid_fault_rejected(aep_emulator: AepEmulator) -> None:
    with pytest.raises(ValueError):
        aep_emulator.inject_fault()
    with pytest.raises(ValueError):
        aep_emulator.inject_fault(status=500, times=0)
