"""Each downstream operator rejects bad input with a named error before sending any request."""

from __future__ import annotations

from datetime import datetime

import pendulum
import pytest

from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.operators.flow_service import (
    CreateDataflowOperator,
    CreateDataLakeTargetConnectionOperator,
    CreateMappingSetOperator,
    CreateSourceConnectionOperator,
    DeleteFlowServiceResourceOperator,
    ExploreConnectionOperator,
    RunDataflowOperator,
)
from tests.flow_service.support import DATASET_ID, SCHEMA_ID, execute


def rejects(aep, make, field: str, words: str = "") -> None:
    """``make()`` builds the operator; building or executing it raises AepInputError naming ``field``."""
    with pytest.raises(AepInputError) as info:
        execute(make())
    message = str(info.value)
    assert message.startswith(f"{field}:"), message
    assert words in message, message
    assert aep.journal == [], [(e.method, e.path) for e in aep.journal]
    assert aep.token_requests == 0


# ------------------------------------------------------------------------------------- explore
@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"connection_id": ""}, "connection_id", "required"),
        ({"connection_id": None}, "connection_id", "required"),
        ({"connection_id": "../flows"}, "connection_id", "is not an Adobe id"),
        ({"connection_id": "c1?objectType=table"}, "connection_id", "is not an Adobe id"),
        ({"connection_id": "c1/explore#"}, "connection_id", "is not an Adobe id"),
        ({"connection_id": "../flows", "object_path": "crm.customers"}, "connection_id", "is not an Adobe id"),
        ({"connection_id": "c1", "object_path": "customers"}, "object_path", "not a table path"),
        ({"connection_id": "c1", "object_path": "crm/customers"}, "object_path", "not a table path"),
        ({"connection_id": "c1", "object_path": "crm.customers; drop"}, "object_path", "not a table path"),
        ({"connection_id": "c1", "object_path": "a.b.c.d"}, "object_path", "not a table path"),
        ({"connection_id": "c1", "row_filter": {"city": "DDN"}}, "row_filter", "object_path and preview=True"),
        (
            {"connection_id": "c1", "object_path": "crm.customers", "row_filter": {"city": "DDN"}},
            "row_filter",
            "preview=True",
        ),
        (
            {"connection_id": "c1", "object_path": "crm.customers", "preview": True, "row_filter": "city = 'DDN'"},
            "row_filter",
            "expected a dict",
        ),
        (
            {"connection_id": "c1", "object_path": "crm.customers", "preview": True, "row_filter": ("city", "~", 1)},
            "row_filter",
            "unknown operator",
        ),
    ],
)
def test_explore_bad_inputs(aep, kwargs, field, words):
    rejects(aep, lambda: ExploreConnectionOperator(task_id="explore", **kwargs), field, words)


# ------------------------------------------------------------------------------------- source connection
SOURCE_OK = {"name": "src", "base_connection_id": "b1", "table_path": "crm.customers"}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"table_path": "customers"}, "table_path", "dataset.table"),
        ({"table_path": "crm..customers"}, "table_path", "not a table path"),
        ({"table_path": ""}, "table_path", "required"),
        ({"table_path": "crm.customers WHERE 1=1"}, "table_path", "not a table path"),
        ({"columns": []}, "columns", "empty list"),
        ({"columns": "customer_id,email"}, "columns", "a list of column names"),
        ({"columns": ["customer_id", ""]}, "columns", "a list of column names"),
        ({"columns": ["customer_id", None]}, "columns", "a list of column names"),
        ({"row_filter": {}}, "row_filter", "empty dict"),
        ({"row_filter": ("city", "=", ["DDN", "NYC"])}, "row_filter", "'in'"),
        ({"name": "  "}, "name", "required"),
        ({"base_connection_id": ""}, "base_connection_id", "required"),
    ],
)
def test_source_connection_bad_inputs(aep, changes, field, words):
    rejects(aep, lambda: CreateSourceConnectionOperator(task_id="source", **{**SOURCE_OK, **changes}), field, words)


# ------------------------------------------------------------------------------------- target connection
TARGET_OK = {"name": "tgt", "dataset_id": DATASET_ID, "schema_id": SCHEMA_ID}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"schema_id": "_acme.schemas.123"}, "schema_id", "not an XDM schema id"),
        ({"schema_id": "http://ns.adobe.com/acme/schemas/1"}, "schema_id", "not an XDM schema id"),
        ({"schema_id": "https://example.com/acme/schemas/1"}, "schema_id", "not an XDM schema id"),
        ({"schema_id": ""}, "schema_id", "required"),
        ({"dataset_id": "65f1c2d3-e4a5-b6c7-d8e9-f001"}, "dataset_id", "not an AEP dataset id"),
        ({"dataset_id": "crm.customers"}, "dataset_id", "not an AEP dataset id"),
        ({"dataset_id": "abc"}, "dataset_id", "not an AEP dataset id"),
        ({"dataset_id": None}, "dataset_id", "required"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_target_connection_bad_inputs(aep, changes, field, words):
    rejects(
        aep, lambda: CreateDataLakeTargetConnectionOperator(task_id="target", **{**TARGET_OK, **changes}), field, words
    )


# ------------------------------------------------------------------------------------- mapping set
@pytest.mark.parametrize(
    ("mappings", "schema_id", "field", "words"),
    [
        ({}, SCHEMA_ID, "mappings", "at least one column"),
        ([], SCHEMA_ID, "mappings", "at least one column"),
        ({"email": "personalEmail.address", "email2": "personalEmail.address"}, SCHEMA_ID, "mappings", "same XDM path"),
        ([("a", "x.y"), ("b", "x.y")], SCHEMA_ID, "mappings", "same XDM path"),
        ({"email": "personalEmail..address"}, SCHEMA_ID, "mappings", "not an XDM path"),
        ({"email": "/personalEmail/address"}, SCHEMA_ID, "mappings", "not an XDM path"),
        ({"email": "personal Email"}, SCHEMA_ID, "mappings", "not an XDM path"),
        ({"email": ""}, SCHEMA_ID, "mappings", "not an XDM path"),
        ({"": "person.name"}, SCHEMA_ID, "mappings", "non-empty name"),
        ([("a", "b", "c")], SCHEMA_ID, "mappings", "each item"),
        ([{"source": "a"}], SCHEMA_ID, "mappings", "each item"),
        ("email:personalEmail.address", SCHEMA_ID, "mappings", "give a dict"),
        ({"email": "personalEmail.address"}, "my-schema", "schema_id", "not an XDM schema id"),
    ],
)
def test_mapping_set_bad_inputs(aep, mappings, schema_id, field, words):
    rejects(
        aep, lambda: CreateMappingSetOperator(task_id="mapping", schema_id=schema_id, mappings=mappings), field, words
    )


def test_mapping_forms_are_equivalent():
    forms = [
        {"customer_id": "_acme.customerId", "email": "personalEmail.address"},
        [("customer_id", "_acme.customerId"), ["email", "personalEmail.address"]],
        [
            {"source": "customer_id", "destination": "_acme.customerId"},
            {"source": "email", "destination": "personalEmail.address"},
        ],
    ]
    bodies = [CreateMappingSetOperator(task_id="m", schema_id=SCHEMA_ID, mappings=f).build_body() for f in forms]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["mappings"] == [
        {"sourceType": "ATTRIBUTE", "source": "customer_id", "destination": "_acme.customerId"},
        {"sourceType": "ATTRIBUTE", "source": "email", "destination": "personalEmail.address"},
    ]


# ------------------------------------------------------------------------------------- dataflow
FLOW_OK = {
    "name": "flow",
    "source_connection_id": "s1",
    "target_connection_id": "t1",
    "mapping_id": "m1",
    "delta_column": "updated_at",
}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"frequency": "monthly"}, "frequency", "must be one of once, minute, hour, day, week"),
        ({"frequency": None}, "frequency", "must be one of"),
        ({"frequency": "minute", "interval": 5}, "interval", "at least 15"),
        ({"frequency": "hour"}, "interval", "required"),
        ({"frequency": "hour", "interval": 0}, "interval", "at least 1"),
        ({"frequency": "once", "interval": 15}, "interval", "not used with frequency 'once'"),
        ({"start_time": 1767225600000}, "start_time", "epoch milliseconds"),
        ({"start_time": datetime(2026, 1, 1)}, "start_time", "no timezone"),
        ({"start_time": "tomorrow"}, "start_time", "neither ISO-8601"),
        ({"backfill": "false"}, "backfill", "True or False"),
        ({"mapping_version": "latest"}, "mapping_version", "whole number"),
        ({"delta_column": ""}, "delta_column", "required"),
        ({"mapping_id": ""}, "mapping_id", "required"),
        ({"source_connection_id": None}, "source_connection_id", "required"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_dataflow_bad_inputs(aep, changes, field, words):
    rejects(aep, lambda: CreateDataflowOperator(task_id="flow", **{**FLOW_OK, **changes}), field, words)


# ------------------------------------------------------------------------------------- run
RUN_OK = {"flow_id": "f1", "window_start": 1767139200, "window_end": 1767225600}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"window_end": 1767139100}, "window_end", "must be after window_start"),
        ({"window_end": 1767139200}, "window_end", "must be after window_start"),
        (
            {
                "window_start": pendulum.datetime(2026, 1, 2, tz="UTC"),
                "window_end": "2026-01-01T00:00:00Z",
            },
            "window_end",
            "must be after window_start",
        ),
        ({"window_start": 1767139200000}, "window_start", "epoch milliseconds"),
        ({"window_end": datetime(2026, 1, 2)}, "window_end", "no timezone"),
        ({"window_start": None}, "window_start", "got NoneType"),
        ({"flow_id": ""}, "flow_id", "required"),
        ({"flow_id": "f1,f2"}, "flow_id", "is not an Adobe id"),  # a comma would match two flows' runs
        ({"flow_id": 'f1"'}, "flow_id", "is not an Adobe id"),
    ],
)
def test_run_bad_inputs(aep, changes, field, words):
    rejects(aep, lambda: RunDataflowOperator(task_id="run", **{**RUN_OK, **changes}), field, words)


# ------------------------------------------------------------------------------------- sensor
@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({}, "run_id", "give run_id or flow_id"),
        ({"run_id": "", "flow_id": None}, "run_id", "give run_id or flow_id"),
        ({"flow_id": "f1,f2"}, "flow_id", "is not an Adobe id"),
        ({"flow_id": "f1 OR 1"}, "flow_id", "is not an Adobe id"),
        ({"run_id": "../flows/f1"}, "run_id", "is not an Adobe id"),
    ],
)
def test_sensor_bad_inputs(aep, kwargs, field, words):
    from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

    rejects(aep, lambda: DataflowRunSensor(task_id="wait", deferrable=False, timeout=5, **kwargs), field, words)


# ------------------------------------------------------------------------------------- delete
@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"resource_type": "dataflow", "resource_id": "x"}, "resource_type", "one of connection"),
        ({"resource_type": "mapping_set", "resource_id": "x"}, "resource_type", "one of connection"),
        ({"resource_type": "Flow", "resource_id": "x"}, "resource_type", "one of connection"),
        ({"resource_type": "flow", "resource_id": ""}, "resource_id", "required"),
    ],
)
def test_delete_bad_inputs(aep, kwargs, field, words):
    rejects(aep, lambda: DeleteFlowServiceResourceOperator(task_id="delete", **kwargs), field, words)


@pytest.mark.parametrize("resource_id", ["../connections/abc", "abc?x=1", "a#b", ".."])
def test_delete_refuses_ids_that_change_the_path(aep, resource_id):
    op = DeleteFlowServiceResourceOperator(task_id="delete", resource_type="flow", resource_id=resource_id)
    with pytest.raises(AepInputError, match=r"^resource_id: .* is not an Adobe id"):
        execute(op)
    assert aep.journal == []
