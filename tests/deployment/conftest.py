"""Fixtures of the end-to-end deployment tests: one real Airflow deployment per test module.

The tests skip with the reason when PostgreSQL or Chromium is missing, unless
``AEP_REQUIRE_DEPLOYMENT`` is set (CI): then a missing dependency fails them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.deployment.deployment import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    ARTIFACTS,
    DAGS_FOLDER,
    AirflowDeployment,
    ApiClient,
    chromium_path,
    missing_deployment_deps,
)
from tests.reliability.support import record_issued_tokens

if TYPE_CHECKING:
    from collections.abc import Iterator

SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = "run scripts/deployment/install_system_deps.sh (see tests/deployment/README.md)"

BASE_DAG = "example_bigquery_base_connection"
DATAFLOW_DAG = "example_bigquery_to_aep_dataflow"
DAG_RUN_TIMEOUT = float(os.environ.get("AEP_DEPLOYMENT_RUN_TIMEOUT", "180"))
# Long enough that the sensor must defer and the triggerer must resume it.
EMULATED_RUN_SECONDS = 8.0


def require(missing: list[str], what: str) -> None:
    """Skip (or, with AEP_REQUIRE_DEPLOYMENT set, fail) when something is missing."""
    if not missing:
        return
    reason = f"{what} needs {'; '.join(missing)}: {INSTALL_HINT}"
    if os.environ.get("AEP_REQUIRE_DEPLOYMENT"):
        pytest.fail(f"{reason} (AEP_REQUIRE_DEPLOYMENT is set, so this is a failure)", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------- deployment
@pytest.fixture(scope="module")
def ims_tokens() -> Iterator[list[str]]:
    """Every IMS access token the module's emulator issues, recorded from before it starts."""
    with record_issued_tokens() as tokens:
        yield tokens


@pytest.fixture(scope="module")
def emulator(ims_tokens: list[str]) -> Iterator[Any]:
    from importlib.metadata import version

    if int(version("apache-airflow").split(".")[0]) < 3:
        pytest.skip("the deployment tests drive an Airflow 3 deployment; Airflow 2.11 is covered by other tests")
    require(missing_deployment_deps(), "the Airflow deployment")
    from airflow_provider_aep.testing import AepEmulator

    emu = AepEmulator()
    emu.start()
    try:
        emu.set_run_plan(duration=EMULATED_RUN_SECONDS)
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def deployment(emulator: Any) -> Iterator[AirflowDeployment]:
    """PostgreSQL + api-server + scheduler + dag-processor + triggerer, started once, torn down after."""
    dep = AirflowDeployment(emulator)
    t0 = time.monotonic()
    dep.start()  # raises DeploymentError with the log tails when a component does not come up
    print(f"\n[deployment] up in {time.monotonic() - t0:.1f} s: {dep.timings} at {dep.base_url}")
    try:
        yield dep
    finally:
        t1 = time.monotonic()
        dep.stop()
        leftovers = dep.leftover_processes()
        dep.save_logs(ARTIFACTS / "deployment-logs")
        dep.cleanup()
        print(f"\n[deployment] torn down in {time.monotonic() - t1:.1f} s; logs in {ARTIFACTS / 'deployment-logs'}")
        assert not leftovers, f"processes left behind by the deployment: {leftovers}"


@pytest.fixture(scope="module")
def api(deployment: AirflowDeployment) -> ApiClient:
    return deployment.client()


# ---------------------------------------------------------------------------------------- DAG runs
class DagRunResult:
    """A finished DAG run and the states each task went through while it ran."""

    def __init__(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.conf = conf
        self.state = "queued"
        self.history: dict[str, list[str]] = {}
        self.task_instances: dict[str, dict[str, Any]] = {}
        self.seconds = 0.0

    @property
    def path(self) -> str:
        from urllib.parse import quote

        return f"/api/v2/dags/{self.dag_id}/dagRuns/{quote(self.run_id, safe='')}"

    def observe(self, api: ApiClient) -> None:
        self.state = api.json("GET", self.path)["state"]
        tis = api.json("GET", f"{self.path}/taskInstances")["task_instances"]
        for ti in tis:
            states = self.history.setdefault(ti["task_id"], [])
            if not states or states[-1] != ti["state"]:
                states.append(ti["state"])
            self.task_instances[ti["task_id"]] = ti


def trigger(api: ApiClient, dag_id: str, conf: dict[str, Any]) -> DagRunResult:
    api.json("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    body = api.json("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    return DagRunResult(dag_id, body["dag_run_id"], conf)


def wait_for(api: ApiClient, runs: list[DagRunResult], timeout: float = DAG_RUN_TIMEOUT) -> None:
    """Poll every half second (to catch short states such as ``deferred``) until all runs finish."""
    t0 = time.monotonic()
    pending = list(runs)
    while pending and time.monotonic() - t0 < timeout:
        for run in list(pending):
            run.observe(api)
            if run.state in ("success", "failed"):
                run.seconds = time.monotonic() - t0
                pending.remove(run)
        time.sleep(0.5)
    for run in pending:
        run.seconds = time.monotonic() - t0


@pytest.fixture(scope="module")
def dag_runs(deployment: AirflowDeployment, api: ApiClient) -> dict[str, DagRunResult]:
    """Trigger the example DAGs once (together), through the REST API, and wait for them."""
    runs = {BASE_DAG: trigger(api, BASE_DAG, {"env": "e2e"})}
    if (DAGS_FOLDER / f"{DATAFLOW_DAG}.py").exists():
        runs[DATAFLOW_DAG] = trigger(api, DATAFLOW_DAG, {})
    wait_for(api, list(runs.values()))
    for run in runs.values():
        print(f"\n[deployment] {run.dag_id}: {run.state} in {run.seconds:.1f} s")
    return runs


@pytest.fixture(scope="module")
def base_run(dag_runs: dict[str, DagRunResult]) -> DagRunResult:
    return dag_runs[BASE_DAG]


@pytest.fixture(scope="module")
def dataflow_run(dag_runs: dict[str, DagRunResult]) -> DagRunResult:
    if DATAFLOW_DAG not in dag_runs:
        pytest.skip(f"example_dags/{DATAFLOW_DAG}.py does not exist yet (the dataflow DAG is still being written)")
    return dag_runs[DATAFLOW_DAG]


# ---------------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def browser(deployment: AirflowDeployment) -> Iterator[Any]:
    missing = []
    if chromium_path() is None:
        missing.append(f"Chromium at {os.environ.get('AEP_CHROMIUM', '/usr/bin/chromium')}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the Python package playwright (pip install playwright; no browser download needed)")
    require(missing, "the browser tests")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(chromium_path()), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, deployment: AirflowDeployment) -> Iterator[Any]:
    """A fresh browser context, logged in as the test user."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    pg.goto(f"{deployment.base_url}/")
    pg.get_by_label("Username").fill(ADMIN_USER)
    pg.get_by_label("Password").fill(ADMIN_PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(f"{deployment.base_url}/")
    try:
        yield pg
    finally:
        context.close()


def docs_screenshots_wanted(path: Path) -> bool:
    """Refresh the README's screenshots when asked, or create them when missing (they are tracked)."""
    return bool(os.environ.get("AEP_UPDATE_DOCS_SCREENSHOTS")) or not path.exists()
