"""The separate benchmark venv: apache-airflow 3.3.2, this provider (editable), the dbt Cloud provider and aepp.

Peers are installed here only, never in the project's own environments. Created with ``uv`` when missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks._common import BENCH_DIR, REPO

VENV = Path(os.environ.get("AEP_BENCH_VENV", BENCH_DIR / ".venv"))
PACKAGES = ["apache-airflow==3.3.2", "apache-airflow-providers-dbt-cloud", "aepp"]


def python() -> Path:
    return VENV / "bin" / "python"


def _uv() -> str | None:
    for candidate in (REPO / ".venv" / "tools" / "bin" / "uv", Path("/work/main/.venv/tools/bin/uv")):
        if candidate.exists():
            return str(candidate)
    return shutil.which("uv")


def _ready() -> bool:
    if not python().exists():
        return False
    probe = "import airflow.providers.dbt.cloud.operators.dbt, aepp, airflow_provider_aep"
    return subprocess.run([str(python()), "-c", probe], capture_output=True, timeout=120, check=False).returncode == 0


def ensure(log=print) -> tuple[Path | None, str]:
    """Return (python of the benchmark venv, how it was obtained) or (None, why not)."""
    if _ready():
        return python(), "existing"
    uv = _uv()
    try:
        if uv is None:
            log("uv not found; installing it into this interpreter with pip")
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "uv"], check=True, timeout=300)
            uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        log(f"creating the benchmark venv {VENV} with {uv} (Airflow 3.3.2 + provider + dbt Cloud provider + aepp)")
        subprocess.run([uv, "venv", "-q", "--allow-existing", "--python", "3.11", str(VENV)], check=True, timeout=300)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python()), *PACKAGES, "-e", str(REPO)],
            check=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"could not create the benchmark venv: {err}"
    if not _ready():
        return None, "the benchmark venv was created but cannot import dbt Cloud / aepp / the provider"
    return python(), "created"
