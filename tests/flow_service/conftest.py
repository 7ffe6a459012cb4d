"""Fixtures for the Flow Service journey tests: a fast Adobe connection, a Google connection,
process-wide caches reset per test, and helpers shared by the test modules (``support.py``)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Flow spec ids, async-hook settings and shared httpx clients are process-wide: reset them."""
    from airflow_provider_aep.hooks import aep, aep_async

    aep._flow_specs.clear()
    aep_async._settings_cache.clear()
    aep_async._clients.clear()
    yield
    aep._flow_specs.clear()
    aep_async._settings_cache.clear()
    aep_async._clients.clear()


@pytest.fixture
def aep(aep_emulator, monkeypatch):
    """The emulator, reset, with ``aep_default`` pointing at it and millisecond backoff."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep_emulator.airflow_connection_json(backoff_base=0.01, retry_deadline=30)
    )
    return aep_emulator


@pytest.fixture
def gcp_connection(monkeypatch, service_account_key) -> str:
    """``google_cloud_default`` holding a generated service-account key (as the example DAG expects)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"keyfile_dict": json.dumps(service_account_key), "project": "acme-crm-prod"},
            }
        ),
    )
    return "google_cloud_default"
