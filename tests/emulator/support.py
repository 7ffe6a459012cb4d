"""Helpers for the emulator tests: a tiny authenticated client built on requests, request bodies."""

from __future__ import annotations

import base64
import json
from typing import Any

import requests

from airflow_provider_aep.testing import BIGQUERY_SPEC_ID, DATA_LAKE_SPEC_ID, AepEmulator

FLOW = "/data/foundation/flowservice"
CONVERSION = "/data/foundation/conversion"
SCOPE = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
SCHEMA_ID = "https://ns.adobe.com/acme/schemas/0123456789abcdef"


class Api:
    """Authenticated calls against an emulator (paths relative to the Flow Service root)."""

    def __init__(self, emu: AepEmulator, sandbox: str = "prod") -> None:
        self.emu = emu
        self.sandbox = sandbox
        self.session = requests.Session()
        self._token: str | None = None

    def token(self, refresh: bool = False) -> str:
        if self._token is None or refresh:
            response = self.ims()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def ims(self, **form: str) -> requests.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.emu.client_id,
            "client_secret": self.emu.client_secret,
            "scope": SCOPE,
        }
        data.update(form)
        return self.session.post(f"{self.emu.ims_url}/ims/token/v3", data=data, timeout=10)

    def headers(self, **overrides: str | None) -> dict[str, str]:
        headers: dict[str, str | None] = {
            "Authorization": f"Bearer {self.token()}",
            "x-api-key": self.emu.client_id,
            "x-gw-ims-org-id": self.emu.org_id,
            "x-sandbox-name": self.sandbox,
        }
        headers.update(overrides)
        return {k: v for k, v in headers.items() if v is not None}

    def call(
        self, method: str, path: str, *, root: str = FLOW, headers: dict[str, str | None] | None = None, **kw: Any
    ) -> requests.Response:
        return self.session.request(
            method, f"{self.emu.url}{root}{path}", headers=self.headers(**(headers or {})), timeout=10, **kw
        )

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.call("POST", path, json=body, **kw)

    def patch(self, path: str, body: Any, etag: str | None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {}) or {}
        if etag is not None:
            headers["If-Match"] = etag
        return self.call("PATCH", path, json=body, headers=headers, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", path, **kw)


def b64_key(key: dict) -> str:
    return base64.b64encode(json.dumps(key).encode()).decode()


def service_connection_body(key: dict, name: str = "bq-service", **params: Any) -> dict:
    return {
        "name": name,
        "auth": {
            "specName": "Service Authentication",
            "params": {"projectId": key["project_id"], "keyFileContent": b64_key(key), **params},
        },
        "connectionSpec": {"id": BIGQUERY_SPEC_ID, "version": "1.0"},
    }


def basic_connection_body(name: str = "bq-basic", **params: Any) -> dict:
    return {
        "name": name,
        "auth": {
            "specName": "Basic Authentication",
            "type": "OAuth2.0",
            "params": {
                "project": "acme-crm-prod",
                "clientId": "1234.apps.googleusercontent.com",
                "clientSecret": "google-oauth-secret",
                "refreshToken": "1//refresh-token",
                **params,
            },
        },
        "connectionSpec": {"id": BIGQUERY_SPEC_ID, "version": "1.0"},
    }


def pql(fn: str, field: str, value: Any) -> dict:
    return {
        "type": "PQL",
        "format": "pql/json",
        "value": {
            "nodeType": "fnApply",
            "fnName": fn,
            "params": [{"nodeType": "fieldLookup", "fieldName": field}, {"nodeType": "literal", "value": value}],
        },
    }


def assert_flow_error(response: requests.Response, code: str) -> dict:
    assert response.status_code == int(code.rsplit("-", 1)[1]), response.text
    body = response.json()
    assert body["type"] == f"https://ns.adobe.com/aep/errors/FLOW-{code}", body
    assert body["report"]["request-id"] == response.headers["x-request-id"]
    return body


def make_dataflow_parts(api: Api, base_id: str) -> tuple[str, str, str]:
    """Create a source connection, a target connection and a mapping set; return their ids."""
    source = api.post(
        "/sourceConnections",
        {
            "name": "customers source",
            "baseConnectionId": base_id,
            "data": {"format": "tabular"},
            "params": {"tableName": "crm.customers", "columns": ["customer_id", "email", "updated_at"]},
            "connectionSpec": {"id": BIGQUERY_SPEC_ID, "version": "1.0"},
        },
    )
    assert source.status_code == 201, source.text
    target = api.post(
        "/targetConnections",
        {
            "name": "customers target",
            "data": {"schema": {"id": SCHEMA_ID, "version": "application/vnd.adobe.xed-full+json;version=1"}},
            "params": {"dataSetId": "5f1e4d2c3b4a596877665544"},
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        },
    )
    assert target.status_code == 201, target.text
    mapping = api.post(
        "/mappingSets",
        {
            "outputSchema": {
                "schemaRef": {"id": SCHEMA_ID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
            },
            "mappings": [
                {"sourceType": "ATTRIBUTE", "source": "customer_id", "destination": "_acme.customerId"},
                {"sourceType": "ATTRIBUTE", "source": "email", "destination": "personalEmail.address"},
            ],
        },
        root=CONVERSION,
    )
    assert mapping.status_code == 200, mapping.text
    return source.json()["id"], target.json()["id"], mapping.json()["id"]
