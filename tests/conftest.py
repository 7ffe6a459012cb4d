"""Test set-up: a throw-away Airflow home with SQLite, set before anything imports Airflow.

The emulator fixtures (``aep_emulator``, ``aep_connection``) come from the provider's pytest plugin.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="aep-tests-airflow-"))
DAGS_FOLDER = _HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airflow_provider_aep\..*",
    }
)
os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)

import pytest  # noqa: E402

from tests.helpers.keys import make_service_account_key  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SPECS = REPO_ROOT.parent / "shared" / "specs"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata database once per test session."""
    from airflow.utils import db

    db.initdb()
    return _HOME


@pytest.fixture(scope="session")
def service_account_key() -> dict:
    """A real service-account key with a freshly generated RSA private key."""
    return make_service_account_key(project_id="acme-crm-prod")


@pytest.fixture
def dags_folder() -> Path:
    return DAGS_FOLDER


def _task_masker():
    """The secrets masker ``mask_secret``/``redact`` use in this process (Airflow 3.3 or 2.11)."""
    try:
        from airflow.sdk._shared.secrets_masker import _secrets_masker
    except ImportError:
        from airflow.utils.log.secrets_masker import _secrets_masker
    return _secrets_masker()


@pytest.fixture(autouse=True)
def _fresh_secrets_masker():
    """Start each test with no registered secrets.

    A secret registered by an earlier test must not make a later masking check pass; and Airflow
    recompiles one regex of all registered secrets on every ``mask_secret`` (quadratic over a long
    test session).
    """
    masker = _task_masker()
    masker.patterns = set()
    masker.replacer = None
    yield


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Each test starts with no cached IMS token, so token counts are per test."""
    from airflow_provider_aep.hooks._tokens import TOKEN_CACHE

    TOKEN_CACHE.clear()
    yield


@pytest.fixture
def fast_aep_connection(aep_emulator, monkeypatch) -> str:
    """Like ``aep_connection`` with millisecond backoff, for retry tests."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep_emulator.airflow_connection_json(backoff_base=0.01, retry_deadline=30)
    )
    return "aep_default"
