"""Importing the provider's public modules must not pull in heavy libraries.

Each check runs in a fresh interpreter: import Airflow's base (``airflow.sdk`` on 3.x, ``airflow.models`` on
2.x), note which heavy modules Airflow itself already loaded, then import our module. A heavy module that
appears only after our import fails the test (``-X importtime`` shows under which of our imports it was
loaded). One that Airflow already loaded cannot show up as new, so every ``import`` statement is also
recorded (``builtins.__import__``) and any executed by our own code for a heavy module fails too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("requests", "google.auth", "httpx", "cryptography", "jsonschema")
PUBLIC_MODULES = (
    "airflow_provider_aep",
    "airflow_provider_aep.operators.bigquery",
    "airflow_provider_aep.operators.flow_service",
    "airflow_provider_aep.sensors.flow_service",
    "airflow_provider_aep.triggers.flow_service",
    "airflow_provider_aep.hooks.aep",
    "airflow_provider_aep.hooks.aep_async",
    "airflow_provider_aep.links",
)

PROBE = textwrap.dedent(
    """
    import builtins, importlib, json, sys
    HEAVY = {heavy!r}
    MODULES = {modules!r}

    def heavy_loaded():
        return {{h for h in HEAVY if h in sys.modules}}

    try:
        import airflow.sdk
        base = "airflow.sdk"
    except ImportError:
        import airflow.models
        base = "airflow.models"
    baseline = heavy_loaded()

    direct = []  # (importing module, imported name) for import statements run by our code
    original = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {{}}).get("__name__", "")
        if level == 0 and importer.startswith("airflow_provider_aep") and any(
            name == h or name.startswith(h + ".") for h in HEAVY
        ):
            direct.append([importer, name])
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = recording_import
    results = {{}}
    for module in MODULES:
        before = heavy_loaded()
        direct.clear()
        mod = importlib.import_module(module)
        if module == "airflow_provider_aep":
            mod.get_provider_info()
        results[module] = {{"new": sorted(heavy_loaded() - before), "direct": list(direct)}}
    builtins.__import__ = original
    print("@@" + json.dumps({{"base": base, "baseline": sorted(baseline), "results": results}}))
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return env


@pytest.fixture(scope="module")
def probe() -> dict:
    code = PROBE.format(heavy=HEAVY, modules=PUBLIC_MODULES)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert proc.returncode == 0 and lines, f"probe failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    data = json.loads(lines[-1][2:])
    data["importtime"] = proc.stderr
    return data


def _chain(importtime: str, heavy: str) -> str:
    """The ``-X importtime`` lines from the first import of ``heavy`` up to the top-level import that caused it."""
    lines = [line for line in importtime.splitlines() if line.startswith("import time:")]
    for i, line in enumerate(lines):
        name = line.rsplit("|", 1)[-1]
        if name.strip() == heavy:
            depth = len(name) - len(name.lstrip())
            chain = [name.strip()]
            for later in lines[i + 1 :]:
                later_name = later.rsplit("|", 1)[-1]
                later_depth = len(later_name) - len(later_name.lstrip())
                if later_depth < depth:
                    chain.append(later_name.strip())
                    depth = later_depth
                if later_depth == 0:
                    break
            return " <- ".join(chain)
    return "(not in -X importtime output)"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_module_imports_nothing_heavy(probe: dict, module: str) -> None:
    result = probe["results"][module]
    new = result["new"]
    assert not new, f"importing {module} after {probe['base']} newly loads {new}: " + "; ".join(
        _chain(probe["importtime"], h) for h in new
    )
    assert not result["direct"], f"{module} imports heavy modules at module level: {result['direct']}"


def test_probe_sees_airflow_baseline(probe: dict) -> None:
    """Sanity: the probe ran against a real Airflow and recorded what Airflow itself loads."""
    assert probe["base"] in ("airflow.sdk", "airflow.models")
    assert set(probe["baseline"]) <= set(HEAVY)


def test_probe_catches_a_heavy_import(tmp_path) -> None:
    """The probe itself works: a stand-in module that imports requests and httpx at module level is caught."""
    (tmp_path / "airflow_provider_aep_fake_heavy.py").write_text("import requests\nimport httpx\n")
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH", "")]))
    code = PROBE.format(heavy=HEAVY, modules=("airflow_provider_aep_fake_heavy",))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][2:])["results"]["airflow_provider_aep_fake_heavy"]
    flagged = set(result["new"]) | {name for _, name in result["direct"]}
    assert {"requests", "httpx"} <= flagged, result
