"""IMS token endpoint and the API gateway header checks."""

from __future__ import annotations

import pytest

from airflow_provider_aep.testing import AepEmulator
from tests.emulator.support import Api, assert_flow_error


def test_token_success(api: Api, aep_emulator: AepEmulator) -> None:
    response = api.ims()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert len(body["access_token"]) > 20
    assert aep_emulator.token_requests == 1


@pytest.mark.parametrize(
    ("form", "status", "error", "description"),
    [
        ({"client_id": "unknown"}, 400, "invalid_client", "invalid client_id parameter"),
        ({"client_secret": "wrong"}, 401, "invalid_client", "invalid client_secret parameter"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", None),
        ({"scope": ""}, 400, "invalid_scope", None),
    ],
)
def test_token_failures(api: Api, aep_emulator: AepEmulator, form, status, error, description) -> None:
    response = api.ims(**form)
    assert response.status_code == status
    assert response.json()["error"] == error
    if description:
        assert response.json()["error_description"] == description
    assert aep_emulator.token_requests == 0


def test_token_expiry_with_clock() -> None:
    emu = AepEmulator(token_ttl=60).start()
    try:
        api = Api(emu)
        assert api.get("/connections").status_code == 200
        emu.advance_clock(61)
        response = api.get("/connections")
        assert response.status_code == 401
        assert response.json() == {"error_code": "401013", "message": "Oauth token is not valid"}
    finally:
        emu.stop()


def test_expire_tokens(api: Api, aep_emulator: AepEmulator) -> None:
    assert api.get("/connections").status_code == 200
    aep_emulator.expire_tokens()
    assert api.get("/connections").json()["error_code"] == "401013"
    api.token(refresh=True)
    assert api.get("/connections").status_code == 200
    assert aep_emulator.token_requests == 2


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [
        ({"Authorization": None}, 403, "403010"),
        ({"Authorization": "Bearer not-a-token"}, 401, "401013"),
        ({"x-api-key": None}, 403, "403000"),
        ({"x-api-key": "someone-else"}, 403, "403003"),
        ({"x-gw-ims-org-id": None}, 400, "400003"),
    ],
)
def test_gateway_errors(api: Api, override, status, code) -> None:
    response = api.get("/connections", headers=override)
    assert response.status_code == status
    assert response.json()["error_code"] == code
    assert response.headers["x-request-id"]


def test_org_and_sandbox_errors(api: Api, aep_emulator: AepEmulator) -> None:
    assert_flow_error(api.get("/connections", headers={"x-gw-ims-org-id": "OTHER@AdobeOrg"}), "2002-401")
    assert_flow_error(api.get("/connections", headers={"x-sandbox-name": None}), "2105-400")
    assert_flow_error(api.get("/connections", headers={"x-sandbox-name": "stage"}), "2100-404")


def test_second_client_in_other_org(aep_emulator: AepEmulator) -> None:
    aep_emulator.add_client("other-client", "other-secret", org_id="OTHER@AdobeOrg")
    api = Api(aep_emulator)
    token = api.ims(client_id="other-client", client_secret="other-secret").json()["access_token"]
    api._token = token
    response = api.get("/connections", headers={"x-api-key": "other-client"})
    assert_flow_error(response, "2002-401")
    ok = api.get("/connections", headers={"x-api-key": "other-client", "x-gw-ims-org-id": "OTHER@AdobeOrg"})
    assert ok.status_code == 200


def test_non_json_body_rejected(api: Api) -> None:
    response = api.call("POST", "/connections", data="name=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert_flow_error(
        api.call("POST", "/connections", data="{not json", headers={"Content-Type": "application/json"}), "1400-400"
    )
