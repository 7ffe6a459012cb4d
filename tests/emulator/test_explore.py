"""Explore: root listing, table schema, preview and PQL filters."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from tests.emulator.support import Api, assert_flow_error, pql

if TYPE_CHECKING:
    from airflow_provider_aep.testing import AepEmulator


def _filters(doc: dict) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def test_root(api: Api, base_connection: str) -> None:
    for object_type in ("root", "ROOT"):
        body = api.get(f"/connections/{base_connection}/explore", params={"objectType": object_type}).json()
        assert {
            "type": "table",
            "name": "customers",
            "path": "crm.customers",
            "canPreview": True,
            "canFetchSchema": True,
        } in body
        assert [t["path"] for t in body] == ["crm.customers", "crm.orders"]


def test_table_schema(api: Api, base_connection: str) -> None:
    body = api.get(
        f"/connections/{base_connection}/explore", params={"objectType": "TABLE", "object": "crm.customers"}
    ).json()
    assert body["format"] == "flat"
    assert "data" not in body
    columns = {c["name"]: c for c in body["schema"]["columns"]}
    assert columns["loyalty_points"]["xdm"] == {"type": "integer"}
    assert columns["loyalty_points"]["type"] == "integer"
    assert columns["loyalty_points"]["meta:xdmType"] == "long"
    assert columns["updated_at"]["xdm"] == {"type": "string", "format": "date-time"}
    assert columns["email"]["meta:xdmType"] == "string"


def test_preview_and_filters(api: Api, base_connection: str) -> None:
    url = f"/connections/{base_connection}/explore"
    base = {"objectType": "table", "object": "crm.customers", "preview": "true"}
    rows = api.get(url, params=base).json()["data"]
    assert len(rows) == 6
    ddn = api.get(url, params={**base, "filters": _filters(pql("=", "city", "DDN"))}).json()["data"]
    assert {r["city"] for r in ddn} == {"DDN"}
    assert len(ddn) == 3
    rich = api.get(url, params={**base, "filters": _filters(pql(">=", "loyalty_points", 120))}).json()["data"]
    assert sorted(r["customer_id"] for r in rich) == ["c-001", "c-003", "c-006"]
    like = api.get(url, params={**base, "filters": _filters(pql("like", "email", "%v@%"))}).json()["data"]
    assert [r["first_name"] for r in like] == ["Dev"]
    inn = api.get(url, params={**base, "filters": _filters(pql("in", "city", ["Noida", "Delhi"]))}).json()["data"]
    assert len(inn) == 2
    combined = {
        "type": "PQL",
        "format": "pql/json",
        "value": {
            "nodeType": "fnApply",
            "fnName": "and",
            "params": [
                pql("=", "city", "DDN")["value"],
                {"nodeType": "fnApply", "fnName": "not", "params": [pql(">", "loyalty_points", 200)["value"]]},
            ],
        },
    }
    assert [r["customer_id"] for r in api.get(url, params={**base, "filters": _filters(combined)}).json()["data"]] == [
        "c-001"
    ]


def test_bad_filters_and_unknown_table(api: Api, base_connection: str) -> None:
    url = f"/connections/{base_connection}/explore"
    base = {"objectType": "table", "object": "crm.customers", "preview": "true"}
    for bad in [
        "%%%",
        base64.b64encode(b"[1]").decode(),
        _filters(pql("=", "nope", 1)),
        _filters(
            {"type": "PQL", "format": "pql/json", "value": {"nodeType": "fnApply", "fnName": "zz", "params": [1]}}
        ),
    ]:
        error = assert_flow_error(api.get(url, params={**base, "filters": bad}), "1400-400")
        assert error["errorDetails"]["field"] == "filters"
    assert_flow_error(api.get(url, params={"objectType": "table", "object": "crm.missing"}), "1101-404")
    assert_flow_error(api.get(url, params={"objectType": "folder"}), "1400-400")


def test_set_catalog(api: Api, base_connection: str, aep_emulator: AepEmulator) -> None:
    aep_emulator.set_catalog({"sales.deals": {"columns": [{"name": "id", "type": "STRING"}], "rows": [{"id": "1"}]}})
    body = api.get(f"/connections/{base_connection}/explore", params={"objectType": "root"}).json()
    assert [t["path"] for t in body] == ["sales.deals"]


def test_each_base_connection_can_have_its_own_catalog(
    api: Api, aep_emulator: AepEmulator, base_connection: str, service_account_key: dict
) -> None:
    from tests.emulator.support import service_connection_body

    other = api.post("/connections", service_connection_body(service_account_key, name="bq-marketing")).json()["id"]
    aep_emulator.set_catalog(
        {"ads.clicks": {"columns": [{"name": "click_id", "type": "string"}], "rows": [{"click_id": "c1"}]}},
        connection_id=other,
    )
    root = {"objectType": "root"}
    assert [t["path"] for t in api.get(f"/connections/{other}/explore", params=root).json()] == ["ads.clicks"]
    assert [t["path"] for t in api.get(f"/connections/{base_connection}/explore", params=root).json()] == [
        "crm.customers",
        "crm.orders",
    ]
    source = {
        "name": "src",
        "baseConnectionId": other,
        "data": {"format": "tabular"},
        "params": {"tableName": "crm.customers"},  # a table of the other connection's project
        "connectionSpec": {"id": "3c9b37f8-13a6-43d8-bad3-b863b941fedd", "version": "1.0"},
    }
    refused = api.post("/sourceConnections", source)
    assert refused.status_code == 400 and "table crm.customers not found" in refused.text
    source["params"]["tableName"] = "ads.clicks"
    assert api.post("/sourceConnections", source).status_code == 201
