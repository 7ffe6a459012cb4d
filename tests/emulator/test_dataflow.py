"""Source/target connections, mapping sets, flows and runs with the emulated clock."""

from __future__ import annotations

from airflow_provider_aep.testing import BIGQUERY_SPEC_ID, CRM_TO_AEP_FLOW_SPEC_ID, DATA_LAKE_SPEC_ID, AepEmulator
from tests.emulator.support import CONVERSION, SCHEMA_ID, Api, assert_flow_error, make_dataflow_parts, pql

START = 1_767_225_600  # 2026-01-01T00:00:00Z, epoch seconds


def _flow_body(source: str, target: str, mapping: str, **schedule) -> dict:
    return {
        "name": "customers flow",
        "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"},
        "sourceConnectionIds": [source],
        "targetConnectionIds": [target],
        "transformations": [
            {
                "name": "Copy",
                "params": {"deltaColumn": {"name": "updated_at", "dateFormat": "YYYY-MM-DD", "timezone": "UTC"}},
            },
            {"name": "Mapping", "params": {"mappingId": mapping, "mappingVersion": 0}},
        ],
        "scheduleParams": {"startTime": START, "frequency": "once", **schedule},
    }


def test_flow_spec(api: Api) -> None:
    for query in ('name=="CRMToAEP"', "name==CRMToAEP"):
        items = api.get("/flowSpecs", params={"property": query}).json()["items"]
        assert [s["id"] for s in items] == [CRM_TO_AEP_FLOW_SPEC_ID]
    spec = api.get(f"/flowSpecs/{CRM_TO_AEP_FLOW_SPEC_ID}").json()["items"][0]
    assert BIGQUERY_SPEC_ID in spec["sourceConnectionSpecIds"]
    assert DATA_LAKE_SPEC_ID in spec["targetConnectionSpecIds"]
    assert {t["name"] for t in spec["transformationSpecs"]} == {"Copy", "Mapping"}
    assert spec["scheduleSpec"]["spec"]["properties"]["frequency"]["enum"] == ["once", "minute", "hour", "day", "week"]


def test_source_target_mapping_validation(api: Api, base_connection: str) -> None:
    body = {
        "name": "s",
        "baseConnectionId": base_connection,
        "data": {"format": "tabular"},
        "params": {"tableName": "crm.customers", "filters": pql("=", "city", "DDN")},
        "connectionSpec": {"id": BIGQUERY_SPEC_ID, "version": "1.0"},
    }
    assert api.post("/sourceConnections", body).status_code == 201
    for change, field in [
        ({"baseConnectionId": "missing"}, "baseConnectionId"),
        ({"data": {"format": "json"}}, "data.format"),
        ({"params": {"tableName": "crm.nope"}}, "params.tableName"),
        ({"params": {"tableName": "crm.customers", "columns": ["zzz"]}}, "params.columns"),
        ({"params": {"tableName": "crm.customers", "filters": {"type": "PQL"}}}, "params.filters"),
    ]:
        error = assert_flow_error(api.post("/sourceConnections", {**body, **change}), "1400-400")
        assert error["errorDetails"]["field"] == field
    target = {
        "name": "t",
        "data": {"schema": {"id": "urn:not-xdm"}},
        "params": {"dataSetId": "ds"},
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
    }
    assert assert_flow_error(api.post("/targetConnections", target), "1400-400")["errorDetails"]["field"] == (
        "data.schema.id"
    )
    target["data"] = {"schema": {"id": SCHEMA_ID}}
    target["params"] = {}
    assert_flow_error(api.post("/targetConnections", target), "1400-400")
    bad_mapping = {"outputSchema": {"schemaRef": {"id": SCHEMA_ID}}, "mappings": [{"source": "a"}]}
    assert_flow_error(api.post("/mappingSets", bad_mapping, root=CONVERSION), "1400-400")
    assert_flow_error(api.post("/mappingSets", {**bad_mapping, "mappings": []}, root=CONVERSION), "1400-400")


def test_mapping_set_get(api: Api, base_connection: str) -> None:
    _, _, mapping = make_dataflow_parts(api, base_connection)
    body = api.get(f"/mappingSets/{mapping}", root=CONVERSION).json()
    assert body["id"] == mapping
    assert body["version"] == 0
    assert body["mappings"][0]["destination"] == "_acme.customerId"


def test_mapping_set_list_pages_newest_first_with_a_loose_name_filter(api: Api, base_connection: str) -> None:
    def body(name: str) -> dict:
        return {
            "name": name,
            "outputSchema": {"schemaRef": {"id": SCHEMA_ID, "contentType": "application/vnd.adobe.xed-full+json"}},
            "mappings": [{"sourceType": "ATTRIBUTE", "source": "email", "destination": "personalEmail.address"}],
        }

    ids = [api.post("/mappingSets", body(name), root=CONVERSION).json()["id"] for name in ("crm", "crm-a", "crm-b")]
    api.post("/mappingSets", body("orders"), root=CONVERSION)

    def listed(**params: str) -> dict:
        resp = api.get("/mappingSets", params=params, root=CONVERSION)
        assert resp.status_code == 200, resp.text
        return resp.json()

    first = listed(name="crm", limit="2")
    assert [m["id"] for m in first["data"]] == ids[::-1][:2]  # newest first; "crm" matches a part of a name
    assert first["_page"] == {"count": 3, "limit": 2}
    assert [m["id"] for m in listed(name="crm", limit="2", start="2")["data"]] == [ids[0]]
    assert len(listed()["data"]) == 4  # default limit 10
    for bad in ({"limit": "0"}, {"limit": "ten"}, {"start": "-1"}):
        assert_flow_error(api.get("/mappingSets", params=bad, root=CONVERSION), "1400-400")


def test_flow_validation(api: Api, base_connection: str) -> None:
    source, target, mapping = make_dataflow_parts(api, base_connection)
    ok = _flow_body(source, target, mapping)
    assert_flow_error(api.post("/flows", {**ok, "state": "enabled"}), "1410-400")
    cases = [
        ({"startTime": START, "frequency": "minute", "interval": 5}, "scheduleParams.interval"),
        ({"startTime": START, "frequency": "hour"}, "scheduleParams.interval"),
        ({"startTime": START, "frequency": "hour", "interval": "1"}, "scheduleParams.interval"),
        ({"startTime": START * 1000, "frequency": "once"}, "scheduleParams.startTime"),
        ({"startTime": START, "frequency": "monthly", "interval": 1}, "scheduleParams.frequency"),
    ]
    for schedule, field in cases:
        error = assert_flow_error(api.post("/flows", {**ok, "scheduleParams": schedule}), "1400-400")
        assert error["errorDetails"]["field"] == field, error
    bad = _flow_body(source, target, mapping)
    bad["transformations"][1]["params"]["mappingVersion"] = "0"
    assert "mappingVersion" in assert_flow_error(api.post("/flows", bad), "1400-400")["errorMessage"]
    bad = _flow_body(source, target, "nope")
    assert_flow_error(api.post("/flows", bad), "1400-400")
    assert_flow_error(api.post("/flows", {**ok, "sourceConnectionIds": [target]}), "1400-400")
    assert_flow_error(api.post("/flows", {**ok, "flowSpec": {"id": "x", "version": "1.0"}}), "1400-400")


def test_once_flow_run_lifecycle(api: Api, base_connection: str, aep_emulator: AepEmulator) -> None:
    source, target, mapping = make_dataflow_parts(api, base_connection)
    response = api.post("/flows", _flow_body(source, target, mapping))
    assert response.status_code == 201
    flow_id = response.json()["id"]
    flow = api.get(f"/flows/{flow_id}").json()["items"][0]
    assert flow["state"] == "enabled"
    assert api.get("/runs", params={"property": f"flowId=={flow_id}"}).json()["items"] == []
    aep_emulator.set_run_plan(duration=30, input_records=42, failed_records=2)
    params = {
        "startTime": START,
        "windowStartTime": START - 3600,
        "windowEndTime": START,
        "deltaColumn": {"name": "updated_at"},
    }
    created = api.post("/runs", {"flowId": flow_id, "params": params})
    assert created.status_code == 201
    run_id = created.json()["items"][0]["id"]
    run = api.get(f"/runs/{run_id}").json()["items"][0]
    assert run["flowId"] == flow_id
    assert run["metrics"]["statusSummary"]["status"] == "inProgress"
    assert "completedAtUTC" not in run["metrics"]["durationSummary"]
    aep_emulator.advance_clock(31)
    run = api.get(f"/runs/{run_id}").json()["items"][0]
    assert run["metrics"]["statusSummary"] == {"status": "success", "errors": []}
    assert run["metrics"]["recordSummary"] == {"inputRecordCount": 42, "outputRecordCount": 40, "failedRecordCount": 2}
    completed = run["metrics"]["durationSummary"]["completedAtUTC"]
    assert completed - run["metrics"]["durationSummary"]["startedAtUTC"] == 30_000
    assert api.get(f"/flows/{flow_id}").json()["items"][0]["lastRunDetails"]["state"] == "success"
    # a failing run for this flow
    aep_emulator.set_run_plan(outcome="failed", duration=1, flow_id=flow_id)
    run2 = api.post("/runs", {"flowId": flow_id, "params": params}).json()["items"][0]["id"]
    aep_emulator.advance_clock(2)
    failed = api.get(f"/runs/{run2}").json()["items"][0]["metrics"]["statusSummary"]
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == "CONNECTOR-1001-500"
    listed = api.get("/runs", params={"property": f"flowId=={flow_id}", "orderby": "-createdAt"}).json()["items"]
    assert [r["id"] for r in listed] == [run2, run_id]
    # in use: base, source and target connections cannot be deleted
    assert_flow_error(api.delete(f"/connections/{base_connection}"), "1418-400")
    assert_flow_error(api.delete(f"/sourceConnections/{source}"), "1418-400")
    assert_flow_error(api.delete(f"/targetConnections/{target}"), "1418-400")
    # disable / enable
    assert api.post(f"/flows/{flow_id}/action", params={"op": "DISABLE"}).status_code == 200
    assert_flow_error(api.post("/runs", {"flowId": flow_id, "params": params}), "1400-400")
    assert api.post(f"/flows/{flow_id}/action", params={"op": "ENABLE"}).status_code == 200
    # deleting the flow deletes its runs and frees the connections
    assert api.delete(f"/flows/{flow_id}").status_code == 204
    assert_flow_error(api.get(f"/runs/{run_id}"), "1101-404")
    assert api.delete(f"/sourceConnections/{source}").status_code == 204
    assert api.delete(f"/connections/{base_connection}").status_code == 204


def test_scheduled_flow_gets_first_run(api: Api, base_connection: str) -> None:
    source, target, mapping = make_dataflow_parts(api, base_connection)
    body = _flow_body(source, target, mapping, frequency="hour", interval=1, backfill=True)
    flow_id = api.post("/flows", body).json()["id"]
    runs = api.get("/runs", params={"property": f"flowId=={flow_id}"}).json()["items"]
    assert len(runs) == 1
    params = {"startTime": START, "windowStartTime": START, "windowEndTime": START}
    error = assert_flow_error(api.post("/runs", {"flowId": flow_id, "params": params}), "1400-400")
    assert "once" in error["errorMessage"]


def test_flow_patch(api: Api, base_connection: str) -> None:
    source, target, mapping = make_dataflow_parts(api, base_connection)
    flow_id = api.post("/flows", _flow_body(source, target, mapping)).json()["id"]
    etag = api.get(f"/flows/{flow_id}").json()["items"][0]["etag"]
    ops = [
        {"op": "replace", "path": "/scheduleParams/interval", "value": 10},
        {"op": "replace", "path": "/scheduleParams/frequency", "value": "minute"},
    ]
    assert "interval" in assert_flow_error(api.patch(f"/flows/{flow_id}", ops, etag), "1400-400")["errorMessage"]
    ops[0]["value"] = 15
    response = api.patch(f"/flows/{flow_id}", ops, etag)
    assert response.status_code == 200
    flow = api.get(f"/flows/{flow_id}").json()["items"][0]
    assert flow["scheduleParams"]["interval"] == 15
    state = [{"op": "replace", "path": "/state", "value": "disabled"}]
    assert_flow_error(api.patch(f"/flows/{flow_id}", state, flow["etag"]), "1410-400")
