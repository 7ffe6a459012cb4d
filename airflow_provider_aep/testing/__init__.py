"""A local emulator of Adobe IMS, Flow Service and Data Prep for tests and local DAG runs.

Standard library only: importing this package never imports Airflow, requests or google-auth.

    from airflow_provider_aep.testing import AepEmulator

    with AepEmulator() as emu:
        os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = emu.airflow_connection_json()
"""

from __future__ import annotations

from airflow_provider_aep.testing.emulator import (
    CONN_TYPE,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_ID,
    AepEmulator,
)
from airflow_provider_aep.testing.faults import Fault
from airflow_provider_aep.testing.handlers import CONVERSION_PREFIX, FLOW_PREFIX, IMS_TOKEN_PATH, MASK
from airflow_provider_aep.testing.journal import JournalEntry
from airflow_provider_aep.testing.specs import (
    BIGQUERY_SPEC_ID,
    CRM_TO_AEP_FLOW_SPEC_ID,
    DATA_LAKE_SPEC_ID,
)

__all__ = [
    "BIGQUERY_SPEC_ID",
    "CONN_TYPE",
    "CONVERSION_PREFIX",
    "CRM_TO_AEP_FLOW_SPEC_ID",
    "DATA_LAKE_SPEC_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ORG_ID",
    "FLOW_PREFIX",
    "IMS_TOKEN_PATH",
    "MASK",
    "AepEmulator",
    "Fault",
    "JournalEntry",
]
