"""Adobe identifiers the provider relies on (see Adobe's Flow Service documentation)."""

BIGQUERY_CONNECTION_SPEC_ID = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
BIGQUERY_CONNECTION_SPEC_VERSION = "1.0"
DATA_LAKE_CONNECTION_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
CRM_TO_AEP_FLOW_SPEC = "CRMToAEP"
XDM_FULL_CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"

BASIC_AUTH_SPEC = "Basic Authentication"
SERVICE_AUTH_SPEC = "Service Authentication"
