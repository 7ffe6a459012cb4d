"""Worker for 2. requests per task: each operator's ``execute()`` against the emulator, journal per task.

    python -m benchmarks._requests_worker

Each task starts with an empty token cache (each Airflow task runs in its own process), so its count
includes the one IMS token request. A second pass keeps the cache and runs many tasks, hooks and triggers
in one process to count IMS tokens per credential per process. Prints ``@@{json}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object, **_: object) -> None:
        self.xcom[key] = value


def make_key(project_id: str) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode("ascii")
    )
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": f"aep-reader@{project_id}.iam.gserviceaccount.com",
        "client_id": "104" + str(uuid.uuid4().int)[:18],
        "token_uri": "https://oauth2.googleapis.com/token",
    }


SCHEMA_ID = "https://ns.adobe.com/acme/schemas/6a3f2b9c1d"
DATASET_ID = "65f1c2d3e4a5b6c7d8e9f001"
MAPPINGS = {"customer_id": "_acme.customerId", "email": "personalEmail.address", "first_name": "person.name.firstName"}

# Minimum requests the API allows per task on the happy path, token included (see README).
MINIMUM = {
    "create_base_connection": 2,  # IMS token + POST /connections
    "explore_tables": 2,  # token + GET /connections/{id}/explore
    "read_table_schema": 2,  # token + GET explore?objectType=table
    "create_source_connection": 2,  # token + POST /sourceConnections
    "create_target_connection": 2,  # token + POST /targetConnections
    "create_mapping_set": 2,  # token + POST /mappingSets
    # token + flow spec by name + POST /flows: the operator looks CRMToAEP up by name (once per process)
    # and checks the schedule against the spec's rules before sending, as its issue asks.
    "create_dataflow": 3,
    "run_dataflow (no wait)": 2,  # token + POST /runs
    "run_dataflow (wait, sync)": 3,  # token + POST /runs + GET /runs/{id} (run already ended)
    "wait_for_run (sensor)": 2,  # token + GET /runs/{id}
    "DataflowRunTrigger": 2,  # token + GET /runs/{id}
    "delete_dataflow": 2,  # token + DELETE
    "delete_source_connection": 2,
    "delete_target_connection": 2,
    "delete_base_connection": 2,
}


def main() -> None:
    from airflow_provider_aep.hooks._tokens import TOKEN_CACHE
    from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator
    from airflow_provider_aep.operators.flow_service import (
        CreateDataflowOperator,
        CreateDataLakeTargetConnectionOperator,
        CreateMappingSetOperator,
        CreateSourceConnectionOperator,
        DeleteFlowServiceResourceOperator,
        ExploreConnectionOperator,
        RunDataflowOperator,
    )
    from airflow_provider_aep.sensors.flow_service import DataflowRunSensor
    from airflow_provider_aep.testing import AepEmulator
    from airflow_provider_aep.triggers.flow_service import DataflowRunTrigger

    key = make_key("acme-crm-prod")
    results: dict[str, dict] = {}
    with AepEmulator() as emu:
        os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = emu.airflow_connection_json()
        emu.set_run_plan(duration=0.0)
        ids: dict[str, str] = {}
        seen_runs: list[str] = []

        def task(label: str, build, *, fresh: bool = True):
            if fresh:
                TOKEN_CACHE.clear()
            emu.clear_journal()
            op = build()
            ti = FakeTI()
            value = op.execute({"ti": ti})
            entries = emu.journal
            results[label] = {
                "count": len(entries),
                "minimum": MINIMUM.get(label),
                "requests": [f"{e.method} {e.path.replace('/data/foundation/', '')}" for e in entries],
            }
            return value

        def operators(suffix: str, fresh: bool, delete: bool = True) -> None:
            ids["conn"] = task(
                "create_base_connection",
                lambda: CreateBigQueryBaseConnectionOperator(
                    task_id="create_base_connection", name=f"bench-bq{suffix}", key_file_content=key
                ),
                fresh=fresh,
            )
            task(
                "explore_tables",
                lambda: ExploreConnectionOperator(task_id="explore_tables", connection_id=ids["conn"]),
                fresh=fresh,
            )
            task(
                "read_table_schema",
                lambda: ExploreConnectionOperator(
                    task_id="read_table_schema", connection_id=ids["conn"], object_path="crm.customers", preview=True
                ),
                fresh=fresh,
            )
            ids["source"] = task(
                "create_source_connection",
                lambda: CreateSourceConnectionOperator(
                    task_id="create_source_connection",
                    name=f"bench-source{suffix}",
                    base_connection_id=ids["conn"],
                    table_path="crm.customers",
                ),
                fresh=fresh,
            )
            ids["target"] = task(
                "create_target_connection",
                lambda: CreateDataLakeTargetConnectionOperator(
                    task_id="create_target_connection",
                    name=f"bench-target{suffix}",
                    dataset_id=DATASET_ID,
                    schema_id=SCHEMA_ID,
                ),
                fresh=fresh,
            )
            mapping = task(
                "create_mapping_set",
                lambda: CreateMappingSetOperator(task_id="create_mapping_set", schema_id=SCHEMA_ID, mappings=MAPPINGS),
                fresh=fresh,
            )
            ids["flow"] = task(
                "create_dataflow",
                lambda: CreateDataflowOperator(
                    task_id="create_dataflow",
                    name=f"bench-flow{suffix}",
                    source_connection_id=ids["source"],
                    target_connection_id=ids["target"],
                    mapping_id=mapping["mapping_id"],
                    delta_column="updated_at",
                    frequency="once",
                ),
                fresh=fresh,
            )
            now = int(time.time())
            ids["run"] = task(
                "run_dataflow (no wait)",
                lambda: RunDataflowOperator(
                    task_id="run_dataflow",
                    flow_id=ids["flow"],
                    window_start=now - 86400,
                    window_end=now,
                    delta_column="updated_at",
                    wait_for_completion=False,
                ),
                fresh=fresh,
            )
            seen_runs.append(ids["run"])
            task(
                "run_dataflow (wait, sync)",
                lambda: RunDataflowOperator(
                    task_id="run_dataflow_wait",
                    flow_id=ids["flow"],
                    window_start=now - 2 * 86400,
                    window_end=now - 86400,
                    wait_for_completion=True,
                    deferrable=False,
                    poll_interval=0.05,
                ),
                fresh=fresh,
            )
            task(
                "wait_for_run (sensor)",
                lambda: DataflowRunSensor(task_id="wait_for_run", run_id=ids["run"], deferrable=True),
                fresh=fresh,
            )
            if fresh:
                TOKEN_CACHE.clear()
            emu.clear_journal()

            async def one_trigger():
                async for event in DataflowRunTrigger(run_id=ids["run"], poll_interval=0.05).run():
                    return event

            asyncio.run(one_trigger())
            entries = emu.journal
            results["DataflowRunTrigger"] = {
                "count": len(entries),
                "minimum": MINIMUM["DataflowRunTrigger"],
                "requests": [f"{e.method} {e.path.replace('/data/foundation/', '')}" for e in entries],
            }
            if not delete:
                return
            for label, kind, rid in (
                ("delete_dataflow", "flow", ids["flow"]),
                ("delete_source_connection", "source_connection", ids["source"]),
                ("delete_target_connection", "target_connection", ids["target"]),
                ("delete_base_connection", "connection", ids["conn"]),
            ):
                task(
                    label,
                    lambda label=label, kind=kind, rid=rid: DeleteFlowServiceResourceOperator(
                        task_id=label, resource_type=kind, resource_id=rid
                    ),
                    fresh=fresh,
                )

        operators("", fresh=True)
        per_task = dict(results)

        # Pass 2: one process, shared cache: the whole journey twice, 20 more hooks, 50 triggers at once.
        TOKEN_CACHE.clear()
        emu.reset()
        emu.set_run_plan(duration=0.3)
        operators("-a", fresh=False)
        operators("-b", fresh=False, delete=False)
        from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

        for _ in range(20):
            AdobeExperiencePlatformHook().get_connection_spec("3c9b37f8-13a6-43d8-bad3-b863b941fedd")
        flow_id = ids["flow"]
        now = int(time.time())
        hook = AdobeExperiencePlatformHook()
        runs = [  # in progress for 0.3 s: each trigger polls a few times
            hook.create_run(
                {
                    "flowId": flow_id,
                    "params": {
                        "startTime": now,
                        "windowStartTime": now - 3600 * (i + 3),
                        "windowEndTime": now - 3600 * (i + 2),
                    },
                }
            )["id"]
            for i in range(5)
        ]

        async def many_triggers():
            from airflow_provider_aep.hooks.aep_async import close_shared_clients

            async def drive(run_id):
                async for event in DataflowRunTrigger(run_id=run_id, poll_interval=0.1).run():
                    return event.payload["status"]

            statuses = await asyncio.gather(*(drive(runs[i % len(runs)]) for i in range(50)))
            await close_shared_clients()
            return Counter(statuses)

        statuses = asyncio.run(many_triggers())
        tokens = emu.token_requests
        total = len(emu.journal)
    print(
        "@@"
        + json.dumps(
            {
                "per_task": per_task,
                "process": {
                    "tokens": tokens,
                    "requests": total,
                    "tasks": 2 * len(per_task),
                    "hooks": 20,
                    "triggers": 50,
                    "trigger_statuses": dict(statuses),
                    "flow": flow_id,
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    main()
