"""Connection specs (Google BigQuery, Data Lake) and the CRMToAEP flow spec served by the emulator."""

from __future__ import annotations

import copy
from typing import Any

BIGQUERY_SPEC_ID = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
DATA_LAKE_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
CRM_TO_AEP_FLOW_SPEC_ID = "14518937-270c-4525-bdec-c2ba7cce3860"
PROVIDER_ID = "0ed90a81-07f4-4586-8190-b40eccef1c5a"
SPEC_VERSION = "1.0"
BASIC_AUTH = "Basic Authentication"
SERVICE_AUTH = "Service Authentication"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
SCHEDULE_FREQUENCIES = ("once", "minute", "hour", "day", "week")

_LARGE_RESULTS = {
    "type": "string",
    "description": "Optional bare BigQuery dataset id (not project.dataset) for large query results.",
}


def _basic_auth_spec() -> dict[str, Any]:
    return {
        "name": BASIC_AUTH,
        "type": "OAuth2.0",
        "spec": {
            "$schema": DRAFT_07,
            "type": "object",
            "description": "Google BigQuery OAuth 2.0 client with a refresh token.",
            "properties": {
                "project": {"type": "string", "description": "The Google Cloud project id."},
                "clientId": {"type": "string", "description": "The Google OAuth client id."},
                "clientSecret": {
                    "type": "string",
                    "format": "password",
                    "description": "The Google OAuth client secret.",
                },
                "refreshToken": {
                    "type": "string",
                    "format": "password",
                    "description": "Refresh token with the bigquery and cloud-platform scopes.",
                },
                "largeResultsDataSetId": dict(_LARGE_RESULTS),
            },
            "required": ["project", "clientId", "clientSecret", "refreshToken"],
            "additionalProperties": False,
        },
    }


def _service_auth_spec(cloud: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "projectId": {"type": "string", "description": "The Google Cloud project id."},
        "keyFileContent": {
            "type": "string",
            "format": "password",
            "description": "The Google service-account JSON key file, Base64-encoded.",
        },
    }
    required = ["projectId", "keyFileContent"]
    if cloud == "aws":
        properties["datasetId"] = {"type": "string", "description": "The BigQuery dataset holding the tables."}
        required.append("datasetId")
    else:
        properties["largeResultsDataSetId"] = dict(_LARGE_RESULTS)
    return {
        "name": SERVICE_AUTH,
        "type": "KeyBased",
        "spec": {
            "$schema": DRAFT_07,
            "type": "object",
            "description": "Google service account key.",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
    }


def bigquery_connection_spec(cloud: str = "azure") -> dict[str, Any]:
    """The Google BigQuery connection spec; on AWS only Service Authentication (with datasetId)."""
    auth = [_service_auth_spec(cloud)] if cloud == "aws" else [_basic_auth_spec(), _service_auth_spec(cloud)]
    return {
        "id": BIGQUERY_SPEC_ID,
        "name": "google-big-query",
        "providerId": PROVIDER_ID,
        "version": SPEC_VERSION,
        "type": "Database",
        "attributes": {
            "category": "Database",
            "connectorName": "Google BigQuery",
            "isSource": True,
            "isPreview": False,
            "uiAttributes": {"apiFeatures": {"explorePaginationSupported": False}},
        },
        "authSpec": auth,
        "sourceSpec": {
            "attributes": {"uiAttributes": {"isSource": True, "category": {"key": "database"}}},
            "spec": {
                "$schema": DRAFT_07,
                "type": "object",
                "description": "Source connection params.",
                "properties": {
                    "tableName": {"type": "string", "description": "dataset.table"},
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "filters": {"type": "object", "description": "PQL JSON filter pushed down to the source."},
                },
                "required": ["tableName"],
            },
        },
        "exploreSpec": {"name": "Database", "type": "Tabular"},
        "permissionsInfo": {"view": [{"@type": "lowLevel", "name": "EnterpriseSource", "permissions": ["read"]}]},
    }


def data_lake_connection_spec() -> dict[str, Any]:
    """The Data Lake target connection spec."""
    return {
        "id": DATA_LAKE_SPEC_ID,
        "name": "Data Lake",
        "providerId": PROVIDER_ID,
        "version": SPEC_VERSION,
        "type": "Target",
        "attributes": {"category": "Platform", "isSource": False, "isDestination": True},
        "authSpec": [],
        "targetSpec": {
            "name": "Data Lake",
            "type": "DataSet",
            "spec": {
                "$schema": DRAFT_07,
                "type": "object",
                "properties": {"dataSetId": {"type": "string", "description": "Target dataset id."}},
                "required": ["dataSetId"],
            },
        },
    }


def schedule_schema() -> dict[str, Any]:
    """The CRMToAEP schedule JSON schema (draft-07)."""
    return {
        "$schema": DRAFT_07,
        "type": "object",
        "properties": {
            "startTime": {"type": "integer", "description": "Epoch time in seconds."},
            "frequency": {"type": "string", "enum": list(SCHEDULE_FREQUENCIES)},
            "interval": {
                "type": "integer",
                "description": "Required unless frequency is once; >= 15 for minute, >= 1 otherwise.",
            },
            "backfill": {"type": "boolean", "default": True},
        },
        "required": ["startTime", "frequency"],
        "additionalProperties": False,
        "if": {"properties": {"frequency": {"const": "once"}}},
        "else": {
            "required": ["interval"],
            "if": {"properties": {"frequency": {"const": "minute"}}},
            "then": {"properties": {"interval": {"minimum": 15}}},
            "else": {"properties": {"interval": {"minimum": 1}}},
        },
    }


def crm_to_aep_flow_spec() -> dict[str, Any]:
    """The CRMToAEP flow spec (database sources to the Data Lake)."""
    return {
        "id": CRM_TO_AEP_FLOW_SPEC_ID,
        "name": "CRMToAEP",
        "providerId": PROVIDER_ID,
        "version": SPEC_VERSION,
        "sourceConnectionSpecIds": [BIGQUERY_SPEC_ID],
        "targetConnectionSpecIds": [DATA_LAKE_SPEC_ID],
        "attributes": {"isSourceFlow": True, "flacValidationSupported": False},
        "scheduleSpec": {"name": "PeriodicSchedule", "type": "Periodic", "spec": schedule_schema()},
        "transformationSpecs": [
            {
                "name": "Copy",
                "spec": {
                    "$schema": DRAFT_07,
                    "type": "object",
                    "properties": {
                        "deltaColumn": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "dateFormat": {"type": "string"},
                                "timezone": {"type": "string"},
                            },
                            "required": ["name"],
                        }
                    },
                    "required": ["deltaColumn"],
                },
            },
            {
                "name": "Mapping",
                "spec": {
                    "$schema": DRAFT_07,
                    "type": "object",
                    "properties": {"mappingId": {"type": "string"}, "mappingVersion": {"type": "integer"}},
                    "required": ["mappingId", "mappingVersion"],
                },
            },
        ],
        "runSpec": {
            "name": "ProviderParams",
            "spec": {
                "$schema": DRAFT_07,
                "type": "object",
                "properties": {
                    "startTime": {"type": "integer"},
                    "windowStartTime": {"type": "integer"},
                    "windowEndTime": {"type": "integer"},
                    "deltaColumn": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
            },
        },
    }


def connection_specs(cloud: str) -> dict[str, dict[str, Any]]:
    """All connection specs by id, as served for this cloud."""
    return {BIGQUERY_SPEC_ID: bigquery_connection_spec(cloud), DATA_LAKE_SPEC_ID: data_lake_connection_spec()}


def flow_specs() -> dict[str, dict[str, Any]]:
    """All flow specs by id."""
    return {CRM_TO_AEP_FLOW_SPEC_ID: crm_to_aep_flow_spec()}


def auth_spec(spec: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The auth spec entry named ``name`` in a connection spec, if declared."""
    for entry in spec.get("authSpec", []):
        if entry["name"] == name:
            return copy.deepcopy(entry)
    return None


def secret_fields(spec: dict[str, Any], name: str) -> set[str]:
    """Names of ``format: password`` params of an auth spec."""
    entry = auth_spec(spec, name)
    if entry is None:
        return set()
    props = entry["spec"].get("properties", {})
    return {key for key, prop in props.items() if prop.get("format") == "password"}
