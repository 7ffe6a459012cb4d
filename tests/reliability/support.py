"""Shared helpers of the reliability suite: a fake task instance, the example DAG's operators built
outside a DAG, a journey builder for prerequisites, the encoded forms of a secret and a recorder of
the IMS tokens an emulator issues (also used by the deployment and hook tests), and the collector
behind ``docs/reliability.md``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import pytest

from tests.helpers.context import FakeTI, execute  # noqa: F401  (re-exported for the tests here)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_aep.testing import AepEmulator

FLOW = "/data/foundation/flowservice"
PREP = "/data/foundation/conversion"
IMS = "/ims/token/v3"
BQ_SPEC_ID = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
SCHEMA_ID = "https://ns.adobe.com/acme/schemas/6a3f2b9c1d"
DATASET_ID = "65f1c2d3e4a5b6c7d8e9f001"
TABLE = "crm.customers"
BASE_NAME = "bigquery-crm-journey"
SOURCE_NAME = "bigquery-crm-customers-source"
TARGET_NAME = "aep-crm-customers-target"
FLOW_NAME = "bigquery-crm-customers-to-aep"
MAPPINGS = {
    "customer_id": "_acme.customerId",
    "email": "personalEmail.address",
    "first_name": "person.name.firstName",
    "city": "homeAddress.city",
    "loyalty_points": "_acme.loyaltyPoints",
}
WINDOW = (1767139200, 1767225600)  # 2025-12-31 .. 2026-01-01 UTC, epoch seconds
REQUEST_ID_RE = re.compile(r"request-id [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def set_connections(monkeypatch: pytest.MonkeyPatch, emu: AepEmulator, key: dict[str, Any], **extras: Any) -> None:
    """``aep_default`` at the emulator (with hook extras) and ``google_cloud_default`` holding the key."""
    settings = {"backoff_base": 0.01, "retry_deadline": 20, "timeout": 10}
    settings.update(extras)
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emu.airflow_connection_json(**settings))
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": key}}),
    )


def reset_provider_caches() -> None:
    """Forget process-wide caches so request and token counts are per case."""
    from airflow_provider_aep.hooks import aep, aep_async
    from airflow_provider_aep.hooks._tokens import TOKEN_CACHE

    TOKEN_CACHE.clear()
    for module in (aep, aep_async):
        for name in ("_flow_specs", "_flow_spec_ids", "_settings_cache"):
            cache = getattr(module, name, None)
            if cache is not None:
                cache.clear()


# --------------------------------------------------------------------------------------- operators
def base_connection_op(**overrides: Any) -> Any:
    from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator

    kwargs: dict[str, Any] = {
        "task_id": "create_base_connection",
        "name": BASE_NAME,
        "gcp_conn_id": "google_cloud_default",
    }
    kwargs.update(overrides)
    return CreateBigQueryBaseConnectionOperator(**kwargs)


def explore_op(connection_id: str, *, schema: bool = False) -> Any:
    from airflow_provider_aep.operators.flow_service import ExploreConnectionOperator

    if not schema:
        return ExploreConnectionOperator(task_id="explore_tables", connection_id=connection_id)
    return ExploreConnectionOperator(
        task_id="read_table_schema",
        connection_id=connection_id,
        object_path=TABLE,
        preview=True,
        row_filter=[("loyalty_points", ">=", 0)],
    )


def source_op(base_id: str) -> Any:
    from airflow_provider_aep.operators.flow_service import CreateSourceConnectionOperator

    return CreateSourceConnectionOperator(
        task_id="create_source_connection", name=SOURCE_NAME, base_connection_id=base_id, table_path=TABLE
    )


def target_op() -> Any:
    from airflow_provider_aep.operators.flow_service import CreateDataLakeTargetConnectionOperator

    return CreateDataLakeTargetConnectionOperator(
        task_id="create_target_connection", name=TARGET_NAME, dataset_id=DATASET_ID, schema_id=SCHEMA_ID
    )


def mapping_op() -> Any:
    from airflow_provider_aep.operators.flow_service import CreateMappingSetOperator

    return CreateMappingSetOperator(task_id="create_mapping_set", schema_id=SCHEMA_ID, mappings=dict(MAPPINGS))


def flow_op(source_id: str, target_id: str, mapping_id: str) -> Any:
    from airflow_provider_aep.operators.flow_service import CreateDataflowOperator

    return CreateDataflowOperator(
        task_id="create_dataflow",
        name=FLOW_NAME,
        source_connection_id=source_id,
        target_connection_id=target_id,
        mapping_id=mapping_id,
        mapping_version=0,
        delta_column="updated_at",
        frequency="once",
    )


def run_op(flow_id: str) -> Any:
    from airflow_provider_aep.operators.flow_service import RunDataflowOperator

    return RunDataflowOperator(
        task_id="run_dataflow",
        flow_id=flow_id,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        delta_column="updated_at",
        wait_for_completion=False,
    )


def sensor_op(run_id: str) -> Any:
    from airflow_provider_aep.sensors.flow_service import DataflowRunSensor

    return DataflowRunSensor(task_id="wait_for_run", run_id=run_id, deferrable=True, poke_interval=2, timeout=600)


def delete_op(resource_type: str, resource_id: str) -> Any:
    from airflow_provider_aep.operators.flow_service import DeleteFlowServiceResourceOperator

    return DeleteFlowServiceResourceOperator(
        task_id=f"delete_{resource_type}", resource_type=resource_type, resource_id=resource_id
    )


class Journey:
    """Builds the prerequisites of a step of the example DAG by running the earlier steps (no faults)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def base(self) -> str:
        if "base" not in self.ids:
            self.ids["base"] = execute(base_connection_op())[0]
        return self.ids["base"]

    def source(self) -> str:
        if "source" not in self.ids:
            self.ids["source"] = execute(source_op(self.base()))[0]
        return self.ids["source"]

    def target(self) -> str:
        if "target" not in self.ids:
            self.ids["target"] = execute(target_op())[0]
        return self.ids["target"]

    def mapping(self) -> str:
        if "mapping" not in self.ids:
            self.ids["mapping"] = execute(mapping_op())[0]["mapping_id"]
        return self.ids["mapping"]

    def flow(self) -> str:
        if "flow" not in self.ids:
            self.ids["flow"] = execute(flow_op(self.source(), self.target(), self.mapping()))[0]
        return self.ids["flow"]

    def run(self) -> str:
        if "run" not in self.ids:
            self.ids["run"] = execute(run_op(self.flow()))[0]
        return self.ids["run"]


# --------------------------------------------------------------------------------------- secret forms
def _b64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
        if len(raw) >= 16:  # the secret inside a longer Base64 text, at each of the 3 alignments
            for offset in (1, 2):
                shifted = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
                forms.add(shifted[4:-4])
            forms.add(text.rstrip("=")[:-4])
    return forms


def encodings(secret: str) -> set[str]:
    """The secret raw, Base64 (several ways), URL-encoded and JSON-escaped; short fragments dropped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= _b64_forms(secret.encode("utf-8"))
    return {f for f in forms if len(f) >= 12}


@contextlib.contextmanager
def record_issued_tokens() -> Iterator[list[str]]:
    """Every IMS access token the in-process emulators issue while this is open, in issue order.

    The emulator has no public list of its tokens and forgets them on ``expire_tokens()``, so the
    recorder wraps the one place that issues them. Callers compare the count with the emulator's
    public ``token_requests``: a renamed or bypassed issuing method then fails the test instead of
    leaving the list silently empty.
    """
    from airflow_provider_aep.testing import state

    tokens: list[str] = []
    original = state.AuthRegistry.issue

    def issue(self: Any, *args: Any, **kwargs: Any) -> str:
        token = original(self, *args, **kwargs)
        tokens.append(token)
        return token

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state.AuthRegistry, "issue", issue)
        yield tokens


# --------------------------------------------------------------------------------------- log capture
def captured_text(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """What the run printed (Airflow 3 structlog writes to stdout) and logged (Airflow 2 logging)."""
    out, err = capfd.readouterr()
    parts = [out, err]
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------- the report
@dataclass
class Cell:
    """One measured (fault, step) pair of the fault matrix."""

    row: str
    column: str
    outcome: str  # "ok" or "failed"
    resources_before: int | None
    resources_after: int | None
    key_requests: int
    total_requests: int
    ims_requests: int
    tokens_issued: int
    seconds: float
    message: str = ""
    verdict: str = "expected"  # "expected", "bug" (xfail) or "limit" (documented limitation)
    note: str = ""


@dataclass
class ReliabilityReport:
    """Filled by the tests of this package; rendered to ``docs/reliability.md`` at session end."""

    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    extra_cases: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    load: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_cell(self, cell: Cell) -> None:
        with self.lock:
            self.cells[(cell.row, cell.column)] = cell


REPORT = ReliabilityReport()
