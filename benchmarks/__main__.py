"""``python -m benchmarks [--quick] [--only SECTION…] [--output FILE]``: run the benchmarks, print one table.

Exit status is non-zero only when a benchmark crashed, never for a missed target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import traceback
from pathlib import Path

from benchmarks._common import Row, machine_info, render_table, set_airflow_env_in_process

SECTIONS = ("parse", "requests", "client", "paging", "triggerer")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI): under ~2 minutes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--no-venv", action="store_true", help="do not create the peer benchmark venv")
    parser.add_argument("--output", type=Path, help="also write the table (Markdown) to this file")
    args = parser.parse_args(argv)
    set_airflow_env_in_process()
    sections = args.only or list(SECTIONS)
    started = time.perf_counter()
    info = machine_info()
    header = (
        f"airflow-provider-aep benchmarks ({'quick' if args.quick else 'full'}), "
        f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"machine: {info.get('nproc')} CPUs ({info.get('cpu', '?')}), {info.get('memory', '?')}; "
        f"Python {info['python']}, Airflow {info['airflow']}"
    )
    log(header)

    bench_python = None
    venv_note = "benchmark venv not used"
    if {"parse", "client"} & set(sections) and not args.no_venv:
        from benchmarks import venv

        t = time.perf_counter()
        bench_python, how = venv.ensure(log)
        venv_note = (
            f"peers measured in {venv.VENV} ({how}, {time.perf_counter() - t:.0f} s)"
            if bench_python
            else f"dbt Cloud and aepp skipped: {how}"
        )
        log(venv_note)

    rows: list[Row] = []
    crashed: list[str] = []
    timings: dict[str, float] = {}
    for section in sections:
        t = time.perf_counter()
        try:
            if section == "parse":
                from benchmarks import parse_cost

                rows += parse_cost.run(args.quick, bench_python, venv_note, log)
            elif section == "requests":
                from benchmarks import requests_per_task

                rows += requests_per_task.run(args.quick, log)
            elif section == "client":
                from benchmarks import client_overhead

                rows += client_overhead.run(args.quick, bench_python, log)
            elif section == "paging":
                from benchmarks import paging

                rows += paging.run(args.quick, log)
            elif section == "triggerer":
                from benchmarks import triggerer

                rows += triggerer.run(args.quick, log)
        except Exception:
            crashed.append(section)
            log(f"[{section}] CRASHED:\n{traceback.format_exc()}")
            rows.append(Row(section, "CRASHED", None, note="see the traceback above"))
        timings[section] = time.perf_counter() - t

    table = render_table(rows)
    met = sum(1 for r in rows if r.met is True)
    missed = [r for r in rows if r.met is False]
    unchecked = [r for r in rows if r.verdict == "UNCHECKED"]
    summary = [
        "",
        f"targets: {met} MET, {len(missed)} MISSED, {len(unchecked)} UNCHECKED"
        + (f" (missed: {'; '.join(f'{r.section} {r.name}' for r in missed)})" if missed else "")
        + (f" (unchecked: {'; '.join(f'{r.section} {r.name}' for r in unchecked)})" if unchecked else ""),
        "section times: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + f"; total {time.perf_counter() - started:.0f} s",
    ]
    if crashed:
        summary.append(f"CRASHED: {', '.join(crashed)}")
    text = "\n".join([header, "", table, *summary])
    print(text, flush=True)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
