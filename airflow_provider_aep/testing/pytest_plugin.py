"""pytest fixtures for the AEP emulator (registered through the ``pytest11`` entry point).

Import-light: nothing here imports Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_aep.testing.emulator import AepEmulator

if TYPE_CHECKING:
    from collections.abc import Iterator

CONN_ID = "aep_default"


@pytest.fixture(scope="session")
def aep_emulator_server() -> Iterator[AepEmulator]:
    """One emulator for the whole test session."""
    emulator = AepEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def aep_emulator(aep_emulator_server: AepEmulator) -> AepEmulator:
    """The session emulator, reset to a clean state for this test."""
    aep_emulator_server.reset()
    return aep_emulator_server


@pytest.fixture
def aep_connection(aep_emulator: AepEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point ``AIRFLOW_CONN_AEP_DEFAULT`` at the emulator; returns the connection id."""
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_emulator.airflow_connection_json())
    return CONN_ID
