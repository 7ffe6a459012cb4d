"""3. Client overhead: sequential GETs through the hook vs a bare requests.Session (the floor) vs aepp."""

from __future__ import annotations

import statistics
import sys
from typing import TYPE_CHECKING

from benchmarks._common import Row, airflow_env, run_json
from benchmarks._servers import fast_server

if TYPE_CHECKING:
    from pathlib import Path

TARGET = 0.85


def run(quick: bool, bench_python: Path | None, log=print) -> list[Row]:
    n = 500 if quick else 2000
    python = str(bench_python) if bench_python else sys.executable
    log(f"[client] {n} GETs per client, interleaved in blocks of 50, with {python}")
    with fast_server() as server:
        data = run_json(
            [python, "-m", "benchmarks._client_worker", str(server.info["port"]), str(n)],
            env=airflow_env(),
            timeout=900,
        )
    expected = data["n"] * len(data["totals"])
    if data["server"]["requests"] < expected:
        raise RuntimeError(f"the server saw {data['server']['requests']} requests, expected >= {expected}")
    tput = {name: data["n"] / total for name, total in data["totals"].items()}
    # Each hook block ran next to a bare block: the median of their ratios shrugs off bursts of machine noise.
    pair_ratios = [b / h for h, b in zip(data["blocks"]["hook"], data["blocks"]["bare"], strict=True)]
    ratio = statistics.median(pair_ratios)
    cpu_ratio = data["cpu"]["bare"] / data["cpu"]["hook"]
    rows = [
        Row(
            "3 client",
            f"hook.request GET x{n}",
            tput["hook"],
            "req/s",
            reference=tput["bare"],
            reference_name="bare requests.Session",
            ratio=ratio,
            target=f">= {TARGET}x bare",
            met=ratio >= TARGET,
            note=f"ratio = median over {len(pair_ratios)} adjacent block pairs (totals give "
            f"{tput['hook'] / tput['bare']:.2f}x); client CPU per call {1e6 * data['cpu']['hook'] / n:.0f} us vs "
            f"{1e6 * data['cpu']['bare'] / n:.0f} us bare ({cpu_ratio:.2f}x); fast asyncio loopback server "
            "in another process, same headers",
        )
    ]
    if "aepp" in tput:
        aepp_ratio = statistics.median(
            b / a for a, b in zip(data["blocks"]["aepp"], data["blocks"]["bare"], strict=True)
        )
        rows.append(
            Row(
                "3 client",
                f"aepp FlowService.getConnectionSpec x{n} (peer)",
                tput["aepp"],
                "req/s",
                reference=tput["bare"],
                reference_name="bare requests.Session",
                ratio=aepp_ratio,
                note="aepp pointed at the local server: configure(environment='support', endpoint=URL) "
                "plus its IMS endpoint overridden in aepp.config.config_object",
            )
        )
    else:
        rows.append(Row("3 client", "aepp (peer)", None, "req/s", note=data["aepp_note"] or "n/a"))
    return rows
