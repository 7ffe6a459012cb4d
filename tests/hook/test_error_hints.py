"""A 401 that outlives the token renewal says what to check, by Adobe's error code."""

from __future__ import annotations

import pytest

from airflow_provider_aep.exceptions import AdobeApiError
from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

FLOW = "/data/foundation/flowservice"
BQ_SPEC = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"


def test_fresh_token_refused_by_the_gateway_points_at_the_environments(aep_emulator, aep_connection):
    body = {"error_code": "401013", "message": "Oauth token is not valid"}
    aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", status=401, body=body, times=None)
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)
    message = str(info.value)
    assert "[401013]" in message
    assert "check that ims_url and host belong to the same environment" in message
    assert "org ID" not in message
    assert aep_emulator.token_requests == 2  # renewed once, then gave up


def test_token_of_another_org_points_at_the_org_id(aep_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_emulator.airflow_connection_json(org_id="FFFF0000@AdobeOrg"))
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)
    message = str(info.value)
    assert info.value.status == 401 and "2002-401" in message
    assert "Check the IMS org ID (org_id)" in message


def test_ims_outage_says_so_instead_of_blaming_the_credential(aep_emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep_emulator.airflow_connection_json(max_retries=1, backoff_base=0.01)
    )
    aep_emulator.inject_fault("POST", "/ims/token/v3", status=503, times=None)
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)
    message = str(info.value)
    assert "HTTP 503" in message
    assert "Adobe IMS failed on its side; the retries ran out" in message
    assert "Check the credential fields" not in message
    assert len(aep_emulator.requests("POST", "/ims/token/v3")) == 2
