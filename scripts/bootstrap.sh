#!/usr/bin/env bash
# Create a virtualenv with one Airflow version and this provider installed (editable).
# Usage: scripts/bootstrap.sh VENV_DIR AIRFLOW_VERSION [EXTRAS]
# Needs only Python 3.11 and the package registries; installs uv into .venv/tools first.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1"
airflow_version="$2"
extras="${3:-test}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

tools=.venv/tools
if [ ! -x "$tools/bin/uv" ]; then
    "$python" -m venv "$tools"
    "$tools/bin/python" -m pip install -q --disable-pip-version-check uv
fi
uv="$tools/bin/uv"

stamp="$venv/.aep-installed"
want="airflow=$airflow_version extras=$extras $(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
"$uv" venv -q --allow-existing -p "$python" "$venv"
"$uv" pip install -q --python "$venv/bin/python" -e ".[$extras]" "apache-airflow==$airflow_version"
echo "$want" > "$stamp"
