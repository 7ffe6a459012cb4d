"""The request journal and its redaction."""

from __future__ import annotations

import json

from airflow_provider_aep.testing import AepEmulator, JournalEntry
from tests.emulator.support import Api, b64_key, service_connection_body


def test_journal_records_everything_redacted(api: Api, aep_emulator: AepEmulator, service_account_key: dict) -> None:
    token = api.token()
    api.post("/connections", service_connection_body(service_account_key))
    api.get("/connections", params={"property": "name==bq-service"})
    journal = aep_emulator.journal
    assert [(e.method, e.path, e.status) for e in journal] == [
        ("POST", "/ims/token/v3", 200),
        ("POST", "/data/foundation/flowservice/connections", 201),
        ("GET", "/data/foundation/flowservice/connections", 200),
    ]
    ims = journal[0]
    assert isinstance(ims, JournalEntry)
    assert ims.body["client_secret"] == "<redacted>"
    assert ims.body["client_id"] == "aep-test-client"
    create = journal[1]
    assert create.headers["authorization"] == "Bearer <redacted>"
    assert create.headers["x-api-key"] == "aep-test-client"
    assert create.body["auth"]["params"]["keyFileContent"] == b64_key(service_account_key)
    assert journal[2].query == {"property": ["name==bq-service"]}
    dumped = json.dumps([e.__dict__ for e in journal])
    assert aep_emulator.client_secret not in dumped
    assert token not in dumped
    assert not any(e.fault for e in journal)


def test_requests_filter_and_clear(api: Api, aep_emulator: AepEmulator) -> None:
    api.get("/connections")
    api.get("/flows")
    assert len(aep_emulator.requests(method="get")) == 2
    assert [e.path for e in aep_emulator.requests(path="*/flows")] == ["/data/foundation/flowservice/flows"]
    assert len(aep_emulator.requests("POST", "/ims/*")) == 1
    assert aep_emulator.request_count == len(aep_emulator.journal) == 3
    aep_emulator.clear_journal()
    assert aep_emulator.journal == []
    assert aep_emulator.request_count == 0
    api.get("/flows")
    assert aep_emulator.request_count == 1


def test_reset(api: Api, aep_emulator: AepEmulator, base_connection: str) -> None:
    aep_emulator.inject_fault(path="/nothing", status=500)
    aep_emulator.reset()
    assert aep_emulator.resources("connections") == []
    assert aep_emulator.journal == []
    assert aep_emulator.token_requests == 0
    assert api.get("/connections").status_code == 200  # clients and tokens survive a reset
