"""Base connections: validation from the served spec, masking, listing, PATCH, DELETE, test."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_provider_aep.testing import BIGQUERY_SPEC_ID, AepEmulator
from tests.emulator.support import (
    Api,
    assert_flow_error,
    b64_key,
    basic_connection_body,
    service_connection_body,
)


def test_connection_spec_served(api: Api) -> None:
    spec = api.get(f"/connectionSpecs/{BIGQUERY_SPEC_ID}").json()["items"][0]
    assert spec["name"] == "google-big-query"
    assert spec["version"] == "1.0"
    auth = {a["name"]: a for a in spec["authSpec"]}
    assert auth["Basic Authentication"]["type"] == "OAuth2.0"
    basic = auth["Basic Authentication"]["spec"]
    assert basic["required"] == ["project", "clientId", "clientSecret", "refreshToken"]
    assert basic["properties"]["refreshToken"]["format"] == "password"
    service = auth["Service Authentication"]["spec"]
    assert service["properties"]["keyFileContent"]["format"] == "password"
    assert "largeResultsDataSetId" in service["properties"]
    listed = api.get("/connectionSpecs", params={"property": "name==google-big-query"}).json()["items"]
    assert [s["id"] for s in listed] == [BIGQUERY_SPEC_ID]


def test_create_service_and_mask(api: Api, aep_emulator: AepEmulator, service_account_key: dict) -> None:
    body = service_connection_body(service_account_key, largeResultsDataSetId="aep_tmp")
    response = api.post("/connections", body)
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "etag"}
    assert created["etag"].startswith('"')
    assert created["etag"].endswith('"')
    item = api.get(f"/connections/{created['id']}").json()["items"][0]
    assert item["auth"]["params"]["keyFileContent"] == "<masked>"
    assert item["auth"]["params"]["projectId"] == "acme-crm-prod"
    assert item["state"] == "enabled"
    assert item["etag"] == created["etag"]
    assert item["createdBy"] == "aep-test-client"
    stored = aep_emulator.resources("connections")[0]
    assert stored["auth"]["params"]["keyFileContent"] == b64_key(service_account_key)


def test_create_basic(api: Api) -> None:
    response = api.post("/connections", basic_connection_body())
    assert response.status_code == 201, response.text
    item = api.get(f"/connections/{response.json()['id']}").json()["items"][0]
    assert item["auth"]["params"]["clientSecret"] == "<masked>"
    assert item["auth"]["params"]["refreshToken"] == "<masked>"
    assert item["auth"]["params"]["clientId"] == "1234.apps.googleusercontent.com"


def test_basic_needs_oauth_type_and_params(api: Api) -> None:
    body = basic_connection_body()
    del body["auth"]["type"]
    assert assert_flow_error(api.post("/connections", body), "1400-400")["errorDetails"]["field"] == "auth.type"
    body = basic_connection_body()
    del body["auth"]["params"]["refreshToken"]
    error = assert_flow_error(api.post("/connections", body), "1400-400")
    assert "refreshToken" in error["report"]["detailed-message"]
    body = basic_connection_body(unexpected="x")
    assert "unexpected" in assert_flow_error(api.post("/connections", body), "1400-400")["errorMessage"]


@pytest.mark.parametrize(
    "key_content",
    [
        "not base64!!",
        base64.urlsafe_b64encode(b'{"type":"service_account"}???>>>').decode().replace("=", ""),
        base64.b64encode(b"not json").decode(),
        base64.b64encode(json.dumps({"type": "authorized_user"}).encode()).decode(),
        base64.b64encode(
            json.dumps({"type": "service_account", "client_email": "a@b", "private_key": "nope"}).encode()
        ).decode(),
    ],
)
def test_bad_key_file(api: Api, service_account_key: dict, key_content: str) -> None:
    body = service_connection_body(service_account_key)
    body["auth"]["params"]["keyFileContent"] = key_content
    error = assert_flow_error(api.post("/connections", body), "1400-400")
    assert "keyFileContent" in error["errorMessage"]


def test_raw_json_key_not_base64_rejected(api: Api, service_account_key: dict) -> None:
    body = service_connection_body(service_account_key)
    body["auth"]["params"]["keyFileContent"] = json.dumps(service_account_key)
    assert "keyFileContent" in assert_flow_error(api.post("/connections", body), "1400-400")["errorMessage"]


def test_unknown_auth_spec_and_spec(api: Api, service_account_key: dict) -> None:
    body = service_connection_body(service_account_key)
    body["auth"]["specName"] = "Service Account (JWT)"
    assert_flow_error(api.post("/connections", body), "1415-400")
    body = service_connection_body(service_account_key)
    body["connectionSpec"]["id"] = "00000000-0000-0000-0000-000000000000"
    assert "not found" in assert_flow_error(api.post("/connections", body), "1400-400")["errorMessage"]
    body = service_connection_body(service_account_key)
    body["name"] = ""
    assert assert_flow_error(api.post("/connections", body), "1400-400")["errorDetails"]["field"] == "name"


def test_aws_rules(service_account_key: dict) -> None:
    with AepEmulator(cloud="aws") as emu:
        api = Api(emu)
        spec = api.get(f"/connectionSpecs/{BIGQUERY_SPEC_ID}").json()["items"][0]
        assert [a["name"] for a in spec["authSpec"]] == ["Service Authentication"]
        props = spec["authSpec"][0]["spec"]["properties"]
        assert set(props) == {"projectId", "keyFileContent", "datasetId"}
        assert_flow_error(api.post("/connections", basic_connection_body()), "1415-400")
        error = assert_flow_error(api.post("/connections", service_connection_body(service_account_key)), "1400-400")
        assert "datasetId" in error["errorMessage"]
        ok = api.post("/connections", service_connection_body(service_account_key, datasetId="crm"))
        assert ok.status_code == 201
        bad = api.post(
            "/connections", service_connection_body(service_account_key, datasetId="crm", largeResultsDataSetId="x")
        )
        assert_flow_error(bad, "1400-400")


def test_duplicates_allowed_list_filters_paging_count(api: Api, service_account_key: dict) -> None:
    ids = []
    for name in ["b", "a", "c", "a"]:
        ids.append(api.post("/connections", service_connection_body(service_account_key, name=name)).json()["id"])
    found = api.get("/connections", params={"property": "name==a"}).json()["items"]
    assert [c["id"] for c in found] == [ids[1], ids[3]]
    found = api.get("/connections", params={"property": 'name=="a",c'}).json()["items"]
    assert len(found) == 3
    both = api.get(
        "/connections",
        params=[
            ("property", "name==a"),
            ("property", f"connectionSpec.id=={BIGQUERY_SPEC_ID}"),
            ("property", "state==enabled"),
        ],
    ).json()["items"]
    assert len(both) == 2
    assert (
        api.get("/connections", params=[("property", "name==a"), ("property", "state==disabled")]).json()["items"] == []
    )
    assert api.get("/connections", params={"count": "true"}).json() == {"count": 4}
    assert api.get("/connections", params={"count": "true", "property": "name==a"}).json() == {"count": 2}
    assert_flow_error(api.get("/connections", params={"count": "true", "limit": "2"}), "1401-400")
    names = [c["name"] for c in api.get("/connections", params={"orderby": "-name"}).json()["items"]]
    assert names == ["c", "b", "a", "a"]
    # paging: follow _links.next.href (relative to the Flow Service root)
    page = api.get("/connections", params={"limit": "3", "orderby": "name"}).json()
    assert [c["name"] for c in page["items"]] == ["a", "a", "b"]
    href = page["_links"]["next"]["href"]
    assert href.startswith("/connections?limit=3&continuationToken=")
    page2 = api.get(href).json()
    assert [c["name"] for c in page2["items"]] == ["c"]
    assert "_links" not in page2
    # repeating the same filters with the token stays consistent
    first = api.get("/connections", params={"limit": "1", "property": "name==a"}).json()
    token = first["_links"]["next"]["href"].split("continuationToken=")[1]
    second = api.get("/connections", params={"limit": "1", "property": "name==a", "continuationToken": token}).json()
    assert [c["id"] for c in first["items"] + second["items"]] == [ids[1], ids[3]]
    assert "_links" not in second
    assert_flow_error(api.get("/connections", params={"continuationToken": "garbage!"}), "1400-400")


def test_default_page_size(service_account_key: dict) -> None:
    with AepEmulator(default_page_size=2) as emu:
        api = Api(emu)
        for n in range(3):
            api.post("/connections", service_connection_body(service_account_key, name=f"c{n}"))
        page = api.get("/connections").json()
        assert len(page["items"]) == 2
        assert "limit=2" in page["_links"]["next"]["href"]


def test_sandbox_isolation(api: Api, service_account_key: dict, aep_emulator: AepEmulator) -> None:
    cid = api.post("/connections", service_connection_body(service_account_key)).json()["id"]
    dev = Api(aep_emulator, sandbox="dev")
    assert dev.get("/connections").json()["items"] == []
    assert_flow_error(dev.get(f"/connections/{cid}"), "1101-404")
    assert len(aep_emulator.resources("connections", sandbox="prod")) == 1


def test_patch_rules(api: Api, base_connection: str, service_account_key: dict) -> None:
    etag = api.get(f"/connections/{base_connection}").json()["items"][0]["etag"]
    ops = [{"op": "replace", "path": "/name", "value": "renamed"}]
    assert_flow_error(api.patch(f"/connections/{base_connection}", ops, None), "1403-400")
    assert_flow_error(api.patch(f"/connections/{base_connection}", ops, '"stale"'), "1404-412")
    response = api.patch(f"/connections/{base_connection}/", ops, etag)
    assert response.status_code == 200
    new_etag = response.json()["etag"]
    assert new_etag != etag
    assert_flow_error(api.patch(f"/connections/{base_connection}", ops, etag), "1404-412")
    new_key = dict(service_account_key, project_id="other")
    params = {"projectId": "other", "keyFileContent": b64_key(new_key)}
    response = api.patch(
        f"/connections/{base_connection}", [{"op": "replace", "path": "/auth/params", "value": params}], new_etag
    )
    assert response.status_code == 200, response.text
    item = api.get(f"/connections/{base_connection}").json()["items"][0]
    assert item["name"] == "renamed"
    assert item["auth"]["params"]["projectId"] == "other"
    bad = api.patch(
        f"/connections/{base_connection}", [{"op": "remove", "path": "/auth/params/keyFileContent"}], item["etag"]
    )
    assert "keyFileContent" in assert_flow_error(bad, "1400-400")["errorMessage"]
    bad = api.patch(f"/connections/{base_connection}", [{"op": "replace", "path": "/id", "value": "x"}], item["etag"])
    assert_flow_error(bad, "1400-400")


def test_delete_and_test(api: Api, base_connection: str, aep_emulator: AepEmulator) -> None:
    assert api.get(f"/connections/{base_connection}/test").json() == {"result": True}
    aep_emulator.set_connection_test_result(False)
    assert api.get(f"/connections/{base_connection}/test").json() == {"result": False}
    aep_emulator.set_connection_test_result(None)
    assert api.delete(f"/connections/{base_connection}/").status_code == 204
    assert_flow_error(api.get(f"/connections/{base_connection}"), "1101-404")
    assert_flow_error(api.delete(f"/connections/{base_connection}"), "1101-404")
