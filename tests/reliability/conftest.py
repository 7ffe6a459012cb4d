"""The reliability suite's collector: writes ``docs/reliability.md`` at the end of a session on Airflow 3.

The file is generated, never hand-written: it is only rewritten when the whole fault matrix ran in this
session (a partial run, e.g. ``-k``, leaves it alone), every test of this suite that ran passed (cells
are recorded before their assertions, so a failed cell would otherwise be published as measured), and
only on Airflow 3.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.reliability.support import REPORT, ReliabilityReport

if TYPE_CHECKING:
    from collections.abc import Iterator

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
HERE = Path(__file__).resolve().parent
# nodeid -> "passed" / "failed" / "skipped" (an expected failure, strict xfail, counts as passed).
OUTCOMES: dict[str, str] = {}


@pytest.fixture(scope="session")
def reliability_report() -> Iterator[ReliabilityReport]:
    yield REPORT


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if HERE not in Path(str(item.path)).resolve().parents:
        return report
    if report.failed:
        OUTCOMES[item.nodeid] = "failed"
    elif report.when == "call" or report.skipped:
        OUTCOMES.setdefault(item.nodeid, "passed" if report.passed or hasattr(report, "wasxfail") else "skipped")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reason = doc_not_written_because()
    if reason is None:
        DOC.write_text(render(REPORT, *_matrix()), encoding="utf-8")
        reason = f"{DOC.relative_to(DOC.parents[1])} regenerated"
    elif reason == "":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")  # after the progress dots
        reporter.write_line(f"reliability: {reason}")


def _matrix() -> tuple[Any, Any]:
    from tests.reliability.test_fault_matrix import COLUMNS, ROWS

    return ROWS, COLUMNS


def failed_tests() -> list[str]:
    return sorted(nodeid for nodeid, outcome in OUTCOMES.items() if outcome == "failed")


def doc_not_written_because() -> str | None:
    """None when the doc is to be written; "" when this session is not a full run (say nothing)."""
    if not REPORT.cells or os.environ.get("AEP_RELIABILITY_NO_DOC"):
        return ""
    from tests.reliability.test_fault_matrix import matrix_cases

    if len(REPORT.cells) < len(matrix_cases()):
        return ""
    from airflow_provider_aep._compat import AIRFLOW_V3

    if not AIRFLOW_V3:
        return ""
    failed = failed_tests()
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        return f"docs/reliability.md NOT regenerated: {len(failed)} test(s) failed ({shown})"
    return None


def _airflow_version() -> str:
    from airflow import __version__

    return __version__


def _cell_text(cell: Any) -> str:
    mark = "✅" if cell.outcome == "ok" else "❌"
    if cell.verdict == "bug":
        mark += "🐞"
    elif cell.verdict == "limit":
        mark += "⚠️"
    res = "" if cell.resources_after is None else f" {cell.resources_after - cell.resources_before:+d}r"
    return f"{mark}{res} {cell.key_requests}k/{cell.total_requests}q"


def render(report: ReliabilityReport, rows: Any, columns: Any) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "<!-- GENERATED FILE: do not edit. Written by tests/reliability (conftest.py) at the end of a full",
        "     pytest run on Airflow 3; edit the tests, then run `pytest tests/reliability` to regenerate. -->",
        "# Reliability: faults, secrets, bad input, load",
        "",
        f"Generated {now} by `tests/reliability` on Apache Airflow {_airflow_version()}, "
        f"Python {platform.python_version()}, against the local AEP emulator over loopback HTTP.",
        "",
        "## Fault matrix",
        "",
        "Each cell ran one step of `example_dags/example_bigquery_to_aep_dataflow.py` (the operator's",
        "`execute(context)`; `wait_for_run_trigger` is the sensor's deferred half, the trigger in an event loop,",
        "then `execute_complete`; `hook_test_connection` is the connection form's Test button) with one fault",
        "injected on the step's own request (method and path below).",
        "",
        "Cell: outcome (✅ task succeeded, ❌ task failed), change in the emulator's resources of the step's kind",
        "(`+1r` = exactly one created), requests to the faulted endpoint (`k`) / all requests the step sent (`q`,",
        "IMS included). 🐞 = a provider bug, tracked by a strict `xfail` test; ⚠️ = documented limitation.",
        "",
    ]
    header = "| fault | " + " | ".join(f"`{c.name}`" for c in columns) + " |"
    lines += [header, "|---" * (len(columns) + 1) + "|"]
    lines.append(
        "| *faulted request* | " + " | ".join(f"{c.method} `{c.path.split('/foundation')[-1]}`" for c in columns) + " |"
    )
    for row in rows:
        cells = []
        for col in columns:
            cell = report.cells.get((row.name, col.name))
            cells.append("—" if cell is None else _cell_text(cell))
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    lines += ["", "### What each fault did (per step: outcome, seconds, tokens issued, message)", ""]
    for row in rows:
        lines += [
            f"#### {row.label}",
            "",
            "| step | outcome | resources | requests (faulted/all/IMS) | "
            "tokens issued | seconds | what the task said |",
            "|---|---|---|---|---|---|---|",
        ]
        for col in columns:
            cell = report.cells.get((row.name, col.name))
            if cell is None:
                continue
            res = "—" if cell.resources_after is None else f"{cell.resources_before} → {cell.resources_after}"
            said = cell.message.replace("|", "\\|") or "(success)"
            if cell.note:
                said += f" **[{'bug' if cell.verdict == 'bug' else 'limitation'}: {cell.note}]**"
            lines.append(
                f"| `{col.name}` | {cell.outcome} | {res} | {cell.key_requests}/{cell.total_requests}/"
                f"{cell.ims_requests} | {cell.tokens_issued} | {cell.seconds:.2f} | {said} |"
            )
        lines.append("")
    if report.extra_cases:
        lines += ["### Beyond the matrix", "", "| case | outcome | verdict |", "|---|---|---|"]
        for case in report.extra_cases:
            lines.append(f"| {case['case']} | {case['outcome']} | {case['verdict']} |")
        lines.append("")
    bugs = sorted({c.note for c in report.cells.values() if c.verdict == "bug"})
    limits = sorted({c.note for c in report.cells.values() if c.verdict == "limit"})
    if bugs:
        lines += ["### Faults the provider does not survive yet (bugs, strict xfail)", ""]
        lines += [f"- {b}" for b in bugs] + [""]
    if limits:
        lines += ["### Documented limitations", ""]
        lines += [f"- {b}" for b in limits] + [""]
    lines += ["## Secrets audit", ""]
    if report.secrets:
        lines += ["| run | artefacts scanned | secret forms searched | leaks |", "|---|---|---|---|"]
        for item in report.secrets:
            lines.append(f"| {item['run']} | {item['artefacts']} | {item['forms']} | {item['leaks']} |")
    else:
        lines.append("Not run in this session.")
    lines += ["", "## Load", ""]
    if report.load:
        lines += ["| test | size | runtime (s) | result |", "|---|---|---|---|"]
        for item in report.load:
            lines.append(f"| {item['test']} | {item['size']} | {item['seconds']:.1f} | {item['result']} |")
    else:
        lines.append("Not run in this session (set `AEP_RUN_LOAD=1`).")
    lines.append("")
    return "\n".join(lines)
