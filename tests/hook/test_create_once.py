"""Creating exactly once: after an ambiguous failure the hook looks again before resending, and
when a resent create and a late first attempt both land, the copy is deleted."""

from __future__ import annotations

import time

from airflow_provider_aep.exceptions import AdobeApiError
from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook
from tests.emulator.support import service_connection_body

BQ_SPEC = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
FLOW = "/data/foundation/flowservice"


def _body(key: dict, name: str) -> dict:
    return service_connection_body(key, name=name)


def _finder(hook: AdobeExperiencePlatformHook, name: str):
    def find() -> dict | None:
        found = hook.find_connections(name=name, connection_spec_id=BQ_SPEC)
        return min(found, key=lambda c: c.get("createdAt", 0)) if found else None

    return find


def test_create_applied_late_is_found_before_resending(aep_emulator, monkeypatch, service_account_key):
    """The POST times out (0.3 s), Adobe applies it at 0.8 s: the look right before resending finds it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT",
        aep_emulator.airflow_connection_json(timeout=0.3, backoff_base=2.0, retry_deadline=30),
    )
    hook = AdobeExperiencePlatformHook()
    aep_emulator.inject_fault("POST", f"{FLOW}/connections", delay=0.8)  # sleeps, then applies
    resource, created = hook.create_once(
        kind="base connection",
        name="late",
        create=lambda: hook.create_connection(_body(service_account_key, "late")),
        find=_finder(hook, "late"),
    )
    time.sleep(0.2)
    connections = aep_emulator.resources("connections")
    assert created is True
    assert len(connections) == 1
    assert resource["id"] == connections[0]["id"]
    assert len(aep_emulator.requests("POST", f"{FLOW}/connections")) == 1


def test_resent_create_deletes_its_copy_when_the_first_attempt_landed_too(
    aep_emulator, fast_aep_connection, service_account_key, caplog, capfd
):
    """First attempt: no answer. Resend succeeds, but the first attempt landed meanwhile: keep the oldest."""
    hook = AdobeExperiencePlatformHook()
    body = _body(service_account_key, "twice")
    attempts = []

    def create() -> dict:
        attempts.append(1)
        if len(attempts) == 1:
            raise AdobeApiError(status=None, method="POST", path="/connections", title="no response", ambiguous=True)
        if len(attempts) == 2:  # the first attempt lands just after the second look, before the resend
            hook.create_connection(body)
            time.sleep(0.01)
        return hook.create_connection(body)

    resource, created = hook.create_once(
        kind="base connection",
        name="twice",
        create=create,
        find=_finder(hook, "twice"),
        discard=lambda connection_id: hook.delete_connection(connection_id, missing_ok=True),
    )
    connections = aep_emulator.resources("connections")
    assert created is True
    assert len(connections) == 1
    assert resource["id"] == connections[0]["id"]
    assert len(aep_emulator.requests("DELETE", f"{FLOW}/connections/*")) == 1
    out, err = capfd.readouterr()  # structlog's console on Airflow 3, stdlib records on 2.11
    logged = "\n".join([caplog.text, out, err])
    assert "landed late" in logged
    assert "deleting the copy" in logged


def test_create_answered_with_an_unreadable_success_is_found_not_resent(
    aep_emulator, fast_aep_connection, service_account_key
):
    """A proxy rewrote the 201 into an HTML page: the connection exists, so the hook finds it."""
    hook = AdobeExperiencePlatformHook()
    aep_emulator.inject_fault(
        "POST", f"{FLOW}/connections", status=201, raw_body="<html>Created</html>", after_apply=True
    )
    resource, created = hook.create_once(
        kind="base connection",
        name="html",
        create=lambda: hook.create_connection(_body(service_account_key, "html")),
        find=_finder(hook, "html"),
    )
    connections = aep_emulator.resources("connections")
    assert created is True
    assert [c["id"] for c in connections] == [resource["id"]]
    assert len(aep_emulator.requests("POST", f"{FLOW}/connections")) == 1
