"""4. Paging: list 1k and 10k connections through ``hook.paginate``; peak memory flat, time linear."""

from __future__ import annotations

import gc
import os
import time
import tracemalloc

from benchmarks._common import Row
from benchmarks._servers import conn_json, fast_server

PAGE = 50


def _list(hook, total: int, traced: bool) -> tuple[float, float, int]:
    gc.collect()
    if traced:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    c = time.process_time()
    count = 0
    for item in hook.paginate("/connections", params={"total": str(total), "limit": str(PAGE)}):
        count += 1 if item["id"] else 0
    elapsed = time.perf_counter() - t
    cpu = time.process_time() - c
    peak = tracemalloc.get_traced_memory()[1] - base if traced else 0
    if count != total:
        raise RuntimeError(f"paginate yielded {count} items, expected {total}")
    return elapsed, cpu, peak


def run(quick: bool, log=print) -> list[Row]:
    small, large = 1000, 10000
    reps = 3 if quick else 5
    log(f"[paging] {small} vs {large} connections, {PAGE} per page, {reps} interleaved repetitions")
    with fast_server() as server:
        url = f"http://127.0.0.1:{server.info['port']}"
        os.environ["AIRFLOW_CONN_AEP_BENCH_PAGING"] = conn_json(url)
        from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

        hook = AdobeExperiencePlatformHook(aep_conn_id="aep_bench_paging")
        hook.request("GET", "/connections", params={"total": "1"})  # token, settings, socket: warm
        times: dict[int, list[float]] = {small: [], large: []}
        cpus: dict[int, list[float]] = {small: [], large: []}
        peaks: dict[int, list[int]] = {small: [], large: []}
        for _ in range(reps):  # timing without tracemalloc (it slows allocation down), interleaved
            for total in (small, large):
                elapsed, cpu, _ = _list(hook, total, traced=False)
                times[total].append(elapsed)
                cpus[total].append(cpu)
        tracemalloc.start()
        try:
            for _ in range(2):
                for total in (small, large):
                    peaks[total].append(_list(hook, total, traced=True)[2])
        finally:
            tracemalloc.stop()
        hook.session.close()
    t_small, t_large = min(times[small]), min(times[large])
    c_small, c_large = min(cpus[small]), min(cpus[large])
    p_small, p_large = max(peaks[small]), max(peaks[large])
    mem_ratio = p_large / p_small
    cpu_ratio = c_large / c_small
    return [
        Row(
            "4 paging",
            f"peak traced memory, {large} items",
            p_large / 1024,
            "KiB",
            reference=p_small / 1024,
            reference_name=f"{small} items",
            target="ratio <= 1.5 (flat)",
            met=mem_ratio <= 1.5,
            note="tracemalloc peak above the level before listing; items consumed one by one",
        ),
        Row(
            "4 paging",
            f"client CPU time, {large} items",
            c_large,
            "s",
            reference=c_small,
            reference_name=f"{small} items",
            target="ratio <= 12 (linear)",
            met=cpu_ratio <= 12,
            note=f"CPU time of the listing process (the server runs in another); wall time swings with the "
            f"machine's other load: wall {t_large:.3f} s vs {t_small:.4f} s = {t_large / t_small:.1f}x, "
            f"{large / t_large:.0f} items/s; best of {reps}",
        ),
    ]
