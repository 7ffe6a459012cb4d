"""Apache Airflow provider for Adobe Experience Platform.

This module is imported by Airflow's provider discovery in the scheduler, the API server and
the CLI, so it must stay import-light: no hooks, no HTTP clients, no google-auth here.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow reads through the entry point."""
    from airflow_provider_aep._connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

    return {
        "package-name": "airflow-provider-aep",
        "name": "Adobe Experience Platform",
        "description": "Create Google BigQuery sources, dataflows and runs in Adobe Experience Platform.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "adobe_experience_platform",
                "hook-class-name": "airflow_provider_aep.hooks.aep.AdobeExperiencePlatformHook",
                "hook-name": "Adobe Experience Platform",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
        "extra-links": [
            "airflow_provider_aep.links.AepConnectionLink",
            "airflow_provider_aep.links.AepDataflowLink",
        ],
    }
