"""Helpers shared by the Flow Service tests."""

from __future__ import annotations

import base64
import json
import traceback
from typing import Any

from tests.helpers.context import FakeTI, execute  # noqa: F401  (re-exported for the tests here)

FLOW = "/data/foundation/flowservice"
CONVERSION = "/data/foundation/conversion"
BQ_SPEC_ID = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
DATA_LAKE_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
CRM_TO_AEP_ID = "14518937-270c-4525-bdec-c2ba7cce3860"
XDM_FULL = "application/vnd.adobe.xed-full+json;version=1"
SCHEMA_ID = "https://ns.adobe.com/acme/schemas/6a3f2b9c1d"
DATASET_ID = "65f1c2d3e4a5b6c7d8e9f001"


def run_text(capfd: Any, caplog: Any) -> str:
    """Everything a ``dag.test()`` printed or logged so far (Airflow 3 prints structlog to stdout)."""
    out, err = capfd.readouterr()
    parts = [out, err]
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(record.exc_info[1])))
    return "\n".join(parts)


def make_flow(
    hook: Any,
    key: dict[str, Any],
    *,
    name: str = "bq-to-aep",
    frequency: str = "once",
    table: str = "crm.customers",
) -> dict[str, str]:
    """Create base connection, source, target, mapping set and a flow straight through the hook."""
    from airflow_provider_aep.operators.flow_service import (
        CreateDataflowOperator,
        CreateDataLakeTargetConnectionOperator,
        CreateMappingSetOperator,
        CreateSourceConnectionOperator,
    )

    base = hook.create_connection(
        {
            "name": f"{name}-base",
            "auth": {
                "specName": "Service Authentication",
                "params": {
                    "projectId": "acme-crm-prod",
                    "keyFileContent": base64.b64encode(json.dumps(key).encode()).decode(),
                },
            },
            "connectionSpec": {"id": BQ_SPEC_ID, "version": "1.0"},
        }
    )["id"]
    source, _ = execute(
        CreateSourceConnectionOperator(task_id="s", name=f"{name}-source", base_connection_id=base, table_path=table)
    )
    target, _ = execute(
        CreateDataLakeTargetConnectionOperator(
            task_id="t", name=f"{name}-target", dataset_id=DATASET_ID, schema_id=SCHEMA_ID
        )
    )
    mapping, _ = execute(
        CreateMappingSetOperator(task_id="m", schema_id=SCHEMA_ID, mappings={"customer_id": "_acme.customerId"})
    )
    kwargs: dict[str, Any] = {"interval": 1} if frequency != "once" else {}
    flow, _ = execute(
        CreateDataflowOperator(
            task_id="f",
            name=name,
            source_connection_id=source,
            target_connection_id=target,
            mapping_id=mapping["mapping_id"],
            mapping_version=mapping["mapping_version"],
            delta_column="updated_at",
            frequency=frequency,
            **kwargs,
        )
    )
    return {"base": base, "source": source, "target": target, "mapping": mapping["mapping_id"], "flow": flow}
