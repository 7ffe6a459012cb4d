"""Fixtures for the emulator tests (``aep_emulator`` comes from the provider's pytest plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.emulator.support import Api, service_connection_body

if TYPE_CHECKING:
    from airflow_provider_aep.testing import AepEmulator


@pytest.fixture
def api(aep_emulator: AepEmulator) -> Api:
    return Api(aep_emulator)


@pytest.fixture
def base_connection(api: Api, service_account_key: dict) -> str:
    response = api.post("/connections", service_connection_body(service_account_key))
    assert response.status_code == 201, response.text
    return response.json()["id"]
