"""2. Requests per task on the happy path (emulator journal) vs the API minimum; IMS tokens per process."""

from __future__ import annotations

import sys

from benchmarks._common import Row, airflow_env, run_json


def run(quick: bool, log=print) -> list[Row]:
    log("[requests] every operator's execute() against the emulator, journal split per task")
    data = run_json([sys.executable, "-m", "benchmarks._requests_worker"], env=airflow_env(), timeout=600)
    rows = []
    for label, info in data["per_task"].items():
        minimum = info["minimum"]
        rows.append(
            Row(
                "2 requests",
                label,
                float(info["count"]),
                "req",
                reference=float(minimum),
                reference_name="API minimum",
                target="<= minimum + 1",
                met=info["count"] <= minimum + 1,
                note="" if info["count"] <= minimum else ", ".join(info["requests"]),
            )
        )
    proc = data["process"]
    rows.append(
        Row(
            "2 requests",
            f"IMS tokens: 2 journeys + {proc['hooks']} hooks + {proc['triggers']} triggers, one process",
            float(proc["tokens"]),
            "tokens",
            reference=1.0,
            reference_name="one per credential",
            target="== 1",
            met=proc["tokens"] == 1,
            note=f"trigger events {proc['trigger_statuses']}",
        )
    )
    return rows
