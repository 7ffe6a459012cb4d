"""Creates that happen exactly once (reuse by name, ambiguous failures), and deletes of things already gone."""

from __future__ import annotations

import pytest

from airflow_provider_aep.exceptions import AdobeApiError, AepInputError
from airflow_provider_aep.operators.flow_service import (
    CreateDataflowOperator,
    CreateDataLakeTargetConnectionOperator,
    CreateSourceConnectionOperator,
    DeleteFlowServiceResourceOperator,
    ExploreConnectionOperator,
)
from tests.flow_service.support import DATASET_ID, FLOW, SCHEMA_ID, execute, make_flow


@pytest.fixture
def ids(aep, service_account_key):
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    made = make_flow(AdobeExperiencePlatformHook(), service_account_key)
    aep.clear_journal()
    return made


def source_op(ids, name="src-2", **changes):
    kwargs = {"base_connection_id": ids["base"], "table_path": "crm.orders", **changes}
    return CreateSourceConnectionOperator(task_id="s", name=name, **kwargs)


def target_op(name="tgt-2", **changes):
    kwargs = {"dataset_id": DATASET_ID, "schema_id": SCHEMA_ID, **changes}
    return CreateDataLakeTargetConnectionOperator(task_id="t", name=name, **kwargs)


def flow_op(ids, name="flow-2", **changes):
    kwargs = {
        "source_connection_id": ids["source"],
        "target_connection_id": ids["target"],
        "mapping_id": ids["mapping"],
        "delta_column": "updated_at",
        "frequency": "hour",
        "interval": 1,
        **changes,
    }
    return CreateDataflowOperator(task_id="f", name=name, **kwargs)


CREATES = {
    "sourceConnections": lambda ids: source_op(ids),
    "targetConnections": lambda ids: target_op(),
    "flows": lambda ids: flow_op(ids),
}
FAULTS = {
    "applied_then_500": {"status": 500, "after_apply": True},
    "applied_then_503": {"status": 503, "after_apply": True},
    "applied_then_dropped": {"drop": True, "after_apply": True},
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
@pytest.mark.parametrize("collection", CREATES)
def test_create_that_fails_after_applying_yields_one_resource(aep, ids, collection, fault):
    before = len(aep.resources(collection))
    aep.inject_fault("POST", f"{FLOW}/{collection}", **fault)
    resource_id, _ = execute(CREATES[collection](ids))
    after = aep.resources(collection)
    assert len(after) == before + 1
    assert after[-1]["id"] == resource_id
    assert len(aep.requests("POST", f"{FLOW}/{collection}")) == 1  # looked it up instead of sending it again


@pytest.mark.parametrize("collection", CREATES)
def test_create_that_did_not_apply_is_sent_again(aep, ids, collection):
    before = len(aep.resources(collection))
    aep.inject_fault("POST", f"{FLOW}/{collection}", status=500)  # failed before applying
    resource_id, _ = execute(CREATES[collection](ids))
    assert [r["id"] for r in aep.resources(collection)][before:] == [resource_id]
    assert [e.status for e in aep.requests("POST", f"{FLOW}/{collection}")] == [500, 201]


@pytest.mark.parametrize("collection", CREATES)
def test_create_reuses_by_name(aep, ids, collection):
    first, _ = execute(CREATES[collection](ids))
    again, _ = execute(CREATES[collection](ids))
    assert again == first
    assert len(aep.requests("POST", f"{FLOW}/{collection}")) == 1
    lookups = aep.requests("GET", f"{FLOW}/{collection}")
    assert lookups and all(e.query["property"] == [f"name=={CREATES[collection](ids).name}"] for e in lookups)


CHANGED = {
    # the resource made by the first call, asked for again with one setting changed: (collection, operator, words)
    "source table": (
        "sourceConnections",
        lambda ids: source_op(ids, table_path="crm.customers"),
        "table_path 'crm.orders' there, 'crm.customers' here",
    ),
    "target dataset": (
        "targetConnections",
        lambda ids: target_op(dataset_id="65f1c2d3e4a5b6c7d8e9f999"),
        "dataset_id '65f1c2d3e4a5b6c7d8e9f001' there, '65f1c2d3e4a5b6c7d8e9f999' here",
    ),
    "flow mapping": ("flows", lambda ids: flow_op(ids, mapping_version=1), "mapping_version 0 there, 1 here"),
    "flow schedule": ("flows", lambda ids: flow_op(ids, frequency="day"), "frequency 'hour' there, 'day' here"),
}


@pytest.mark.parametrize("change", CHANGED.values(), ids=CHANGED.keys())
def test_reuse_by_name_refuses_other_settings(aep, ids, change):
    """A re-run whose settings changed must not silently keep the old resource (e.g. a flow on the old mapping)."""
    collection, changed_op, words = change
    first_id, _ = execute(CREATES[collection](ids))
    with pytest.raises(AepInputError) as info:
        execute(changed_op(ids))
    message = str(info.value)
    assert message.startswith("name: ") and f"({first_id}) already exists with other settings" in message
    assert words in message
    assert "another name, or delete that one first" in message
    assert len(aep.requests("POST", f"{FLOW}/{collection}")) == 1


def test_schedule_rules_come_from_the_flow_spec_adobe_serves(aep, ids):
    """A rule only the served flow spec has (here: hourly flows every 6 hours at least) stops the create."""
    from airflow_provider_aep.hooks import aep as hook_module
    from airflow_provider_aep.testing.specs import schedule_schema

    rules = schedule_schema()
    rules["else"]["else"]["properties"]["interval"]["minimum"] = 6
    aep.set_schedule_rules(rules)
    hook_module._flow_specs.clear()  # a new task process: the flow spec is read afresh
    with pytest.raises(AepInputError) as info:
        execute(flow_op(ids))  # hour, interval 1: fine by the built-in rules
    assert str(info.value) == (
        "interval: rejected by the rules of flow spec 'CRMToAEP': 1 is less than the minimum of 6."
    )
    assert aep.requests("POST", f"{FLOW}/flows") == []


def test_429_on_create_is_resent_after_retry_after(aep, ids):
    aep.inject_fault("POST", f"{FLOW}/targetConnections", status=429, retry_after=0.3)
    execute(target_op())
    assert [e.status for e in aep.requests("POST", f"{FLOW}/targetConnections")] == [429, 201]
    assert len(aep.resources("targetConnections")) == 2


def test_flow_link_is_pushed(aep, ids):
    flow_id, ti = execute(flow_op(ids))
    assert ti.xcoms["aep_url"] == f"https://experience.adobe.com/#/sname:prod/platform/source/dataflows/{flow_id}/runs"


def test_explore_lists_tables(aep, ids):
    tables, _ = execute(ExploreConnectionOperator(task_id="e", connection_id=ids["base"]))
    assert {t["path"] for t in tables} == {"crm.customers", "crm.orders"}
    assert all(t["can_preview"] and t["can_fetch_schema"] and t["type"] == "table" for t in tables)


def test_explore_filtered_preview(aep, ids):
    result, _ = execute(
        ExploreConnectionOperator(
            task_id="e",
            connection_id=ids["base"],
            object_path="crm.customers",
            preview=True,
            row_filter=[("city", "=", "DDN"), ("loyalty_points", ">", 200)],
        )
    )
    assert [r["customer_id"] for r in result["rows"]] == ["c-003", "c-006"]
    assert result["columns"][4] == {"name": "loyalty_points", "type": "integer", "xdm_type": "long"}


# ------------------------------------------------------------------------------------------- delete
KINDS = {
    "flow": ("flows", "flow"),
    "source_connection": ("sourceConnections", "source"),
    "target_connection": ("targetConnections", "target"),
    "connection": ("connections", "base"),
}


def delete(resource_type, resource_id):
    return execute(
        DeleteFlowServiceResourceOperator(task_id="d", resource_type=resource_type, resource_id=resource_id)
    )[0]


def test_delete_everything_then_again_is_success(aep, ids):
    for resource_type in ("flow", "source_connection", "target_connection", "connection"):
        collection, key = KINDS[resource_type]
        assert delete(resource_type, ids[key]) is True
        assert aep.resources(collection) == []
        assert delete(resource_type, ids[key]) is False  # already gone: success, nothing to do
    statuses = [(e.path.rsplit("/", 2)[-2], e.status) for e in aep.requests("DELETE")]
    assert statuses == [
        ("flows", 204),
        ("flows", 404),
        ("sourceConnections", 204),
        ("sourceConnections", 404),
        ("targetConnections", 204),
        ("targetConnections", 404),
        ("connections", 204),
        ("connections", 404),
    ]


@pytest.mark.parametrize("resource_type", KINDS)
def test_delete_of_an_id_that_never_existed_is_success(aep, resource_type):
    assert delete(resource_type, "0b7a5a0e-0000-4000-8000-000000000000") is False


def test_delete_that_applied_then_failed_is_success(aep, ids):
    aep.inject_fault("DELETE", f"{FLOW}/flows/*", status=500, after_apply=True)
    assert delete("flow", ids["flow"]) is False  # the retry found it gone
    assert aep.resources("flows") == []
    assert [e.status for e in aep.requests("DELETE")] == [500, 404]


def test_delete_in_use_fails_with_adobes_reason(aep, ids):
    with pytest.raises(AdobeApiError) as info:
        delete("source_connection", ids["source"])
    assert info.value.status == 400 and "1418-400" in str(info.value)
    assert len(aep.resources("sourceConnections")) == 1


def test_delete_permission_error_is_not_success(aep, ids):
    aep.inject_fault("DELETE", f"{FLOW}/flows/*", status=403, times=None)
    with pytest.raises(AdobeApiError, match="HTTP 403"):
        delete("flow", ids["flow"])


CONVERSION = "/data/foundation/conversion"


def mapping_op(name=None, mappings=None):
    from airflow_provider_aep.operators.flow_service import CreateMappingSetOperator

    return CreateMappingSetOperator(
        task_id="m", schema_id=SCHEMA_ID, name=name, mappings=mappings or {"email": "personalEmail.address"}
    )


def test_mapping_set_is_reused_by_content(aep, ids):
    first, _ = execute(mapping_op())
    again, _ = execute(mapping_op())
    assert again == first
    assert len(aep.requests("POST", f"{CONVERSION}/mappingSets")) == 1
    other, _ = execute(mapping_op(mappings={"email": "personalEmail.address", "city": "homeAddress.city"}))
    assert other["mapping_id"] != first["mapping_id"]  # other content, other name, another mapping set


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_mapping_set_that_fails_after_applying_yields_one(aep, ids, fault):
    before = len(aep.resources("mappingSets"))
    aep.inject_fault("POST", f"{CONVERSION}/mappingSets", **fault)
    result, _ = execute(mapping_op())
    after = aep.resources("mappingSets")
    assert len(after) == before + 1
    assert after[-1]["id"] == result["mapping_id"]
    assert len(aep.requests("POST", f"{CONVERSION}/mappingSets")) == 1


def test_named_mapping_set_with_other_content_is_refused(aep, ids):
    execute(mapping_op(name="crm-mapping"))
    aep.clear_journal()
    with pytest.raises(Exception, match=r"name: mapping set 'crm-mapping' .* already exists with other mappings"):
        execute(mapping_op(name="crm-mapping", mappings={"city": "homeAddress.city"}))
    assert aep.requests("POST", f"{CONVERSION}/mappingSets") == []


def test_named_mapping_set_is_found_past_the_first_page_of_similar_names(aep, ids):
    """Data Prep's ``name`` filter is not documented as exact: sets whose names merely contain the name
    fill the first pages (newest first), and the lookup must read on instead of creating a second one."""
    first, _ = execute(mapping_op(name="crm"))
    for n in range(120):  # newer, and all containing "crm"
        execute(mapping_op(name=f"crm-{n:03d}"))
    aep.clear_journal()
    again, _ = execute(mapping_op(name="crm"))
    assert again == first
    assert aep.requests("POST", f"{CONVERSION}/mappingSets") == []
    lookups = aep.requests("GET", f"{CONVERSION}/mappingSets")
    assert [e.query["start"] for e in lookups] == [["0"], ["50"], ["100"]]
    assert all(e.query["name"] == ["crm"] for e in lookups)
