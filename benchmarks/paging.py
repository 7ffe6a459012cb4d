"""4. Paging: list 1k and 10k connections through ``hook.paginate``; peak memory flat, time linear."""

from __future__ import annotations

import gc
import os
import statistics
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
    reps = 5 if quick else 9
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
    # Each repetition lists both sizes back to back, so their ratio sees the same machine load; the median of
    # those ratios shrugs off a repetition that another process slowed down (a best-of per size does not).
    pairs = zip(cpus[small], cpus[large], strict=True)
    cpu_ratio = statistics.median(large_cpu / small_cpu for small_cpu, large_cpu in pairs)
    t_small, t_large = statistics.median(times[small]), statistics.median(times[large])
    c_small, c_large = statistics.median(cpus[small]), statistics.median(cpus[large])
    p_small, p_large = max(peaks[small]), max(peaks[large])
    mem_ratio = p_large / p_small
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
            ratio=cpu_ratio,
            note=f"CPU time of the listing process (the server runs in another); ratio = median over {reps} "
            f"repetitions that list both sizes back to back (medians of the times give {c_large / c_small:.1f}x); "
            f"wall time swings with the machine's other load: wall {t_large:.3f} s vs {t_small:.4f} s = "
            f"{t_large / t_small:.1f}x, {large / t_large:.0f} items/s",
        ),
    ]
