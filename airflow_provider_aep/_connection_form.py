"""The Adobe connection form, described once for Airflow 3 (provider info) and Airflow 2 (widgets).

Plain data only: imported by ``get_provider_info`` during provider discovery.
"""

from __future__ import annotations

from typing import Any

DEFAULT_HOST = "https://platform.adobe.io"
DEFAULT_IMS_URL = "https://ims-na1.adobelogin.com"
DEFAULT_SANDBOX = "prod"
DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5
CLOUDS = ("azure", "aws")

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    # The port stays visible: Airflow 3.3.2's Test button sends port 0 for a connection without a
    # port and the API then refuses the test (fixed upstream after 3.3.2). With 443 stored, it works.
    "hidden-fields": ["schema", "extra"],
    "relabeling": {
        "login": "Client ID",
        "password": "Client secret",
        "host": "Platform API URL",
        "port": "Port",
    },
    "placeholders": {
        "login": "OAuth Server-to-Server client ID from the Adobe Developer Console",
        "password": "Client secret of that credential",
        "host": DEFAULT_HOST,
        "port": "443",
        "org_id": "0123456789ABCDEF01234567@AdobeOrg",
        "sandbox_name": DEFAULT_SANDBOX,
        "scopes": DEFAULT_SCOPES,
        "ims_url": DEFAULT_IMS_URL,
        "cloud": "azure",
        "timeout": str(int(DEFAULT_TIMEOUT)),
        "max_retries": str(DEFAULT_MAX_RETRIES),
    },
}

# Field name -> (label, description, JSON schema). Values are stored in Connection.extra under
# the plain field name; Airflow 2 forms store them as ``extra__adobe_experience_platform__<name>``.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "org_id": {
        "label": "IMS org ID",
        "description": (
            "Your IMS organization ID from the Developer Console credential page, "
            "e.g. 0123456789ABCDEF01234567@AdobeOrg."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "sandbox_name": {
        "label": "Sandbox",
        "description": "Name of the Experience Platform sandbox, lower case.",
        "schema": {"type": ["string", "null"], "default": DEFAULT_SANDBOX},
    },
    "scopes": {
        "label": "Scopes",
        "description": "Comma-separated OAuth scopes of the credential, as listed in the Developer Console.",
        "schema": {"type": ["string", "null"], "default": DEFAULT_SCOPES},
    },
    "ims_url": {
        "label": "IMS URL",
        "description": "Adobe IMS base URL that issues access tokens.",
        "schema": {"type": ["string", "null"], "default": DEFAULT_IMS_URL},
    },
    "cloud": {
        "label": "AEP hosting",
        "description": "Where your Experience Platform org runs: azure (most orgs) or aws.",
        "schema": {"type": "string", "default": "azure", "enum": list(CLOUDS)},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for each HTTP request.",
        "schema": {"type": ["number", "null"], "default": DEFAULT_TIMEOUT},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries on throttling (429), server errors (5xx) and network errors.",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_RETRIES},
    },
}
