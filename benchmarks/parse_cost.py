"""1. Parse cost: import time of each public module once Airflow's base is imported, vs. peers."""

from __future__ import annotations

import statistics
import sys
from typing import TYPE_CHECKING

from benchmarks._common import BENCH_DIR, Row, airflow_env, run_json

if TYPE_CHECKING:
    from pathlib import Path

OURS = [
    "airflow_provider_aep.operators.bigquery",
    "airflow_provider_aep.operators.flow_service",
    "airflow_provider_aep.sensors.flow_service",
    "airflow_provider_aep.triggers.flow_service",
    "airflow_provider_aep.hooks.aep",
]
STANDARD = "airflow.providers.standard.operators.python"
DBT = "airflow.providers.dbt.cloud.operators.dbt"
LIMIT_MS = 15.0
WORKER = str(BENCH_DIR / "_import_worker.py")


def _measure(python: str, modules: list[str], runs: int, mode: str) -> dict:
    env = airflow_env()
    if mode == "fork":
        data = run_json([python, WORKER, "fork", str(runs), *modules], env=env, timeout=900)
        if data["errors"]:
            raise RuntimeError(f"import failed: {data['errors']}")
        return data
    # "own" (Airflow core preloaded) comes from forks; "total" from fresh interpreters, the figure that counts.
    forked = run_json([python, WORKER, "fork", str(runs), *modules], env=env, timeout=900)
    if forked["errors"]:
        raise RuntimeError(f"import failed: {forked['errors']}")
    samples: dict[str, dict[str, list[float]]] = {m: {"total": [], "own": forked["samples"][m]["own"]} for m in modules}
    heavy: dict[str, list[str]] = {}
    base = "?"
    for run in range(runs):  # interleaved: A B C … A B C …
        order = modules[run % len(modules) :] + modules[: run % len(modules)]
        for module in order:
            data = run_json([python, WORKER, "spawn", module], env=env, timeout=300)
            samples[module]["total"].append(data["seconds"])
            heavy[module] = data["new_heavy"]
            base = data["base"]
    return {"base": base, "samples": samples, "new_heavy": heavy, "preloads": forked["preloads"]}


def run(quick: bool, bench_python: Path | None, venv_note: str, log=print) -> list[Row]:
    mode = "fork" if quick else "spawn"
    runs = 11 if quick else 10
    python = str(bench_python) if bench_python else sys.executable
    modules = [*OURS, STANDARD] + ([DBT] if bench_python else [])
    log(f"[parse] {len(modules)} modules x {runs} runs x (total, own) ({mode}) with {python}")
    data = _measure(python, modules, runs, mode)
    heavy, base = data["new_heavy"], data["base"]
    total = {m: statistics.median(v["total"]) * 1000 for m, v in data["samples"].items()}
    own = {m: statistics.median(v["own"]) * 1000 for m, v in data["samples"].items()}
    dbt_ms = total.get(DBT)
    method = (
        "forks of one interpreter (gc frozen)"
        if mode == "fork"
        else "total: fresh interpreters, own: forks of one interpreter"
    )
    rows = []
    for module in OURS:
        ok: bool | None = own[module] <= LIMIT_MS and not heavy.get(module)
        if ok:  # the dbt comparison is part of the target: without the peer it is not measured, not met
            ok = total[module] <= dbt_ms if dbt_ms is not None else None
        pulled = sorted(data["preloads"][module], key=lambda p: (p.count("."), p))
        shown = ", ".join(pulled[:3]) + (f" +{len(pulled) - 3}" if len(pulled) > 3 else "")
        note = f"own code {own[module]:.1f} ms; the rest is Airflow core it imports ({shown or 'none'})"
        if heavy.get(module):
            note += f"; newly imports {heavy[module]}"
        rows.append(
            Row(
                "1 parse",
                f"import {module.removeprefix('airflow_provider_aep.')}",
                total[module],
                "ms",
                reference=dbt_ms,
                reference_name="dbt Cloud operators" if dbt_ms is not None else "dbt n/a",
                target=f"total <= dbt; own <= {LIMIT_MS:g} ms; no heavy",
                met=ok,
                note=note,
            )
        )
    rows.append(
        Row(
            "1 parse",
            "import standard.operators.python (peer)",
            total[STANDARD],
            "ms",
            reference=dbt_ms,
            reference_name="dbt Cloud operators" if dbt_ms is not None else "",
            note=f"medians of {runs} runs each, {method}, after `import {base}`; own {own[STANDARD]:.1f} ms; "
            f"{venv_note}",
        )
    )
    if dbt_ms is not None:
        rows.append(
            Row(
                "1 parse",
                "import dbt.cloud.operators.dbt (peer)",
                dbt_ms,
                "ms",
                note=f"own {own[DBT]:.1f} ms; newly imports {heavy.get(DBT) or 'nothing heavy'}",
            )
        )
    else:
        rows.append(Row("1 parse", "import dbt.cloud.operators.dbt (peer)", None, "ms", note=venv_note))
    return rows
