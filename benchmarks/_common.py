"""Shared helpers: the result table, subprocess environments, /proc readers."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Row:
    """One line of the table: a figure, its reference, their ratio and the target verdict."""

    section: str
    name: str
    value: float | None
    unit: str = ""
    reference: float | None = None
    reference_name: str = ""
    target: str = ""
    met: bool | None = None  # None: informational, no target
    note: str = ""
    ratio: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None and self.reference not in (None, 0):
            self.ratio = self.value / self.reference  # type: ignore[operator]

    @property
    def verdict(self) -> str:
        if self.met is None:
            if self.target:  # a target whose reference could not be measured in this run
                return "UNCHECKED"
            return "info" if self.value is not None else "n/a"
        return "MET" if self.met else "MISSED"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 10):
        text = f"{int(value)}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def render_table(rows: list[Row]) -> str:
    headers = ["section", "figure", "value", "reference", "ratio", "target", "verdict"]
    body = []
    for r in rows:
        ref = f"{fmt(r.reference, r.unit)} ({r.reference_name})" if r.reference_name else fmt(r.reference, r.unit)
        if r.reference is None and not r.reference_name:
            ref = "-"
        body.append(
            [
                r.section,
                r.name,
                fmt(r.value, r.unit),
                ref,
                f"{r.ratio:.2f}x" if r.ratio is not None else "-",
                r.target or "-",
                r.verdict,
            ]
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) + " |" for b in body]
    notes = [f"- {r.section} / {r.name}: {r.note}" for r in rows if r.note]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def median(values: list[float]) -> float:
    return statistics.median(values)


_AIRFLOW_HOME: Path | None = None


def airflow_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that imports Airflow: a throw-away home, no examples, SQLite."""
    global _AIRFLOW_HOME
    if _AIRFLOW_HOME is None:
        _AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="aep-bench-airflow-"))
        (_AIRFLOW_HOME / "dags").mkdir()
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(_AIRFLOW_HOME),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(_AIRFLOW_HOME / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPATH": str(REPO),
        }
    )
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.update(extra)
    return env


def set_airflow_env_in_process() -> None:
    """Same as ``airflow_env`` for this process; call before anything imports Airflow."""
    env = airflow_env()
    for key in (
        "AIRFLOW_HOME",
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__LOGGING__LOGGING_LEVEL",
    ):
        os.environ[key] = env[key]
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)


def run_json(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600, cwd: Path = REPO) -> Any:
    """Run a worker that prints one ``@@{json}`` line; return the decoded JSON (raise with stderr on failure)."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@"):
            return json.loads(line[2:])
    raise RuntimeError(
        f"worker {' '.join(cmd[:4])} exited {proc.returncode} without a result:\n"
        f"{proc.stderr[-3000:]}\n{proc.stdout[-1000:]}"
    )


def emit(result: Any) -> None:
    """Print a worker's result for ``run_json``."""
    sys.stdout.write("@@" + json.dumps(result) + "\n")
    sys.stdout.flush()


def proc_rss_kb(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_hwm_kb(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def established_to_port(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` whose remote port is ``port`` (from /proc)."""
    inodes: set[str] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return 0
    for name in names:
        try:
            link = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    want = f"{port:04X}"
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "01" and parts[2].rsplit(":", 1)[1] == want and parts[9] in inodes:
                        count += 1
        except OSError:
            continue
    return count


def machine_info() -> dict[str, str]:
    info: dict[str, str] = {"nproc": str(os.cpu_count())}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    info["memory"] = f"{int(line.split()[1]) // 1024} MiB"
                    break
    except OSError:
        pass
    info["python"] = sys.version.split()[0]
    try:
        from importlib.metadata import version

        info["airflow"] = version("apache-airflow")
    except Exception:
        info["airflow"] = "?"
    return info
