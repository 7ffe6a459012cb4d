"""The hook against the emulator over real HTTP: tokens, headers, retries, errors, paging."""

from __future__ import annotations

import json
import logging
import time

import pytest

from airflow_provider_aep.exceptions import AdobeApiError
from airflow_provider_aep.hooks._tokens import TOKEN_CACHE
from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook
from tests.reliability.support import encodings, record_issued_tokens

BQ_SPEC = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
FLOW = "/data/foundation/flowservice"


def _connection_body(service_account_key: dict, name: str = "bq") -> dict:
    import base64

    return {
        "name": name,
        "auth": {
            "specName": "Service Authentication",
            "params": {
                "projectId": "acme-crm-prod",
                "keyFileContent": base64.b64encode(json.dumps(service_account_key).encode()).decode(),
            },
        },
        "connectionSpec": {"id": BQ_SPEC, "version": "1.0"},
    }


def test_one_ims_token_for_many_calls_across_hook_instances(aep_emulator, aep_connection):
    hooks = [AdobeExperiencePlatformHook() for _ in range(5)]
    for hook in hooks:
        for _ in range(4):
            hook.get_connection_spec(BQ_SPEC)
    assert aep_emulator.token_requests == 1
    assert len(aep_emulator.requests("GET", f"{FLOW}/connectionSpecs/*")) == 20
    assert TOKEN_CACHE.fetches == 1


def test_token_is_shared_by_threads(aep_emulator, aep_connection):
    from concurrent.futures import ThreadPoolExecutor

    def call(_: int) -> str:
        return AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)["name"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        names = list(pool.map(call, range(64)))
    assert set(names) == {"google-big-query"}
    assert aep_emulator.token_requests == 1


def test_requests_carry_adobe_headers(aep_emulator, aep_connection):
    hook = AdobeExperiencePlatformHook()
    hook.get_connection_spec(BQ_SPEC)
    token_call, call = aep_emulator.journal
    assert token_call.path == "/ims/token/v3"
    assert token_call.body["grant_type"] == "client_credentials"
    assert token_call.body["client_id"] == aep_emulator.client_id
    assert token_call.body["client_secret"] == "<redacted>"
    assert token_call.body["scope"] == (
        "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
    )
    assert call.headers["authorization"] == "Bearer <redacted>"
    assert call.headers["x-api-key"] == aep_emulator.client_id
    assert call.headers["x-gw-ims-org-id"] == aep_emulator.org_id
    assert call.headers["x-sandbox-name"] == "prod"
    assert call.headers["user-agent"].startswith("airflow-provider-aep/")
    assert "content-type" not in call.headers  # no body on a GET
    assert hook.session.verify is True


def test_post_sends_json_content_type(aep_emulator, aep_connection, service_account_key):
    created = AdobeExperiencePlatformHook().create_connection(_connection_body(service_account_key))
    post = aep_emulator.requests("POST", f"{FLOW}/connections")[0]
    assert post.headers["content-type"] == "application/json"
    assert created["id"] and created["etag"]


def test_expired_token_is_renewed_once(aep_emulator, aep_connection):
    hook = AdobeExperiencePlatformHook()
    hook.get_connection_spec(BQ_SPEC)
    aep_emulator.expire_tokens()
    assert hook.get_connection_spec(BQ_SPEC)["name"] == "google-big-query"
    statuses = [(e.path.rsplit("/", 1)[-1], e.status) for e in aep_emulator.journal]
    assert statuses == [("v3", 200), (BQ_SPEC, 200), (BQ_SPEC, 401), ("v3", 200), (BQ_SPEC, 200)]
    assert aep_emulator.token_requests == 2


def test_injected_401_renews_token_then_succeeds(aep_emulator, aep_connection):
    hook = AdobeExperiencePlatformHook()
    aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", status=401, body={"error_code": "401013"})
    assert hook.get_connection_spec(BQ_SPEC)["id"] == BQ_SPEC
    assert aep_emulator.token_requests == 2


def test_persistent_401_fails_after_one_renewal(aep_emulator, aep_connection):
    aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", status=401, times=None)
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)
    assert info.value.status == 401
    assert len(aep_emulator.requests("GET", f"{FLOW}/connectionSpecs/*")) == 2
    # The gateway's 401013 for a token IMS had just issued: IMS and Platform URLs of different environments.
    assert "[401013]" in str(info.value)
    assert "check that ims_url and host belong to the same environment" in str(info.value)


def _all_output(caplog, capfd) -> str:
    """Everything logged: stdlib records (Airflow 2) and structlog's console output (Airflow 3)."""
    out, err = capfd.readouterr()
    return "\n".join([caplog.text, *(r.getMessage() for r in caplog.records), out, err])


def test_429_waits_for_retry_after(aep_emulator, aep_connection, caplog, capfd):
    aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", status=429, retry_after=1, times=2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)["id"] == BQ_SPEC
    assert time.monotonic() - started >= 2.0
    assert [e.status for e in aep_emulator.requests("GET", f"{FLOW}/connectionSpecs/*")] == [429, 429, 200]
    retries = sorted({line for line in _all_output(caplog, capfd).splitlines() if "; retry" in line})
    retries = sorted({line[line.index("Adobe API") :][:120] for line in retries})
    assert len(retries) == 2
    assert "HTTP 429 429050" in retries[0] and "retry 1 of 5" in retries[0]


def test_503_is_retried(aep_emulator, fast_aep_connection):
    aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", status=503)
    assert AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)["id"] == BQ_SPEC
    assert [e.status for e in aep_emulator.requests("GET", f"{FLOW}/connectionSpecs/*")] == [503, 200]


def test_dropped_connection_on_get_is_retried(aep_emulator, fast_aep_connection):
    aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", drop=True)
    assert AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)["id"] == BQ_SPEC


def test_endless_429_gives_up_with_throttling_message(aep_emulator, fast_aep_connection):
    aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", status=429, times=None)
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_spec(BQ_SPEC)
    assert info.value.status == 429
    assert "throttling" in str(info.value) and "Gave up after 5 retries" in str(info.value)
    assert len(aep_emulator.requests("GET", f"{FLOW}/connectionSpecs/*")) == 6


def test_post_not_resent_after_applied_then_failed(aep_emulator, fast_aep_connection, service_account_key):
    aep_emulator.inject_fault("POST", f"{FLOW}/connections", status=500, after_apply=True)
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().create_connection(_connection_body(service_account_key))
    assert info.value.ambiguous is True
    assert "may have taken effect" in str(info.value)
    assert len(aep_emulator.requests("POST", f"{FLOW}/connections")) == 1
    assert len(aep_emulator.resources("connections")) == 1


def test_post_resent_after_429(aep_emulator, fast_aep_connection, service_account_key):
    aep_emulator.inject_fault("POST", f"{FLOW}/connections", status=429, retry_after=0)
    AdobeExperiencePlatformHook().create_connection(_connection_body(service_account_key))
    assert [e.status for e in aep_emulator.requests("POST", f"{FLOW}/connections")] == [429, 201]
    assert len(aep_emulator.resources("connections")) == 1


def test_create_once_finds_the_connection_after_ambiguous_failure(
    aep_emulator, fast_aep_connection, service_account_key
):
    hook = AdobeExperiencePlatformHook()
    body = _connection_body(service_account_key, name="once-only")
    aep_emulator.inject_fault("POST", f"{FLOW}/connections", status=502, after_apply=True)

    def find():
        found = hook.find_connections(name="once-only", connection_spec_id=BQ_SPEC)
        return found[0] if found else None

    resource, created = hook.create_once(
        kind="base connection", name="once-only", create=lambda: hook.create_connection(body), find=find
    )
    assert created is True
    assert len(aep_emulator.resources("connections")) == 1
    assert resource["id"] == aep_emulator.resources("connections")[0]["id"]
    assert len(aep_emulator.requests("POST", f"{FLOW}/connections")) == 1


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (400, "FLOW-1400-400", "Bad request"),
        (403, "FLOW-2118-403", "permission"),
        (404, "FLOW-1101-404", "sandbox"),
    ],
)
def test_client_errors_fail_at_once_and_read_well(aep_emulator, fast_aep_connection, status, code, words):
    body = {
        "type": f"https://ns.adobe.com/aep/errors/{code}",
        "title": "Bad request" if status == 400 else "Forbidden" if status == 403 else "Not found",
        "status": status,
        "report": {"detailed-message": "the detail", "request-id": "req-123-abc"},
    }
    aep_emulator.inject_fault("GET", f"{FLOW}/connections/*", status=status, body=body)
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_by_id("0f8b8a0e-1111-2222-3333-444455556666")
    message = str(info.value)
    assert f"HTTP {status}" in message and code in message and "req-123-abc" in message
    assert "GET /connections/0f8b8a0e-1111-2222-3333-444455556666" in message
    assert words.lower() in message.lower()
    assert info.value.code == code and info.value.request_id == "req-123-abc"
    assert len(aep_emulator.requests("GET", f"{FLOW}/connections/*")) == 1


def test_real_404_from_emulator(aep_emulator, aep_connection):
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_by_id("6b1b5b8e-0000-4000-8000-000000000000")
    assert info.value.status == 404
    assert info.value.code and info.value.code.endswith("404")
    assert info.value.request_id


def test_html_error_page_is_reported_without_crash(aep_emulator, fast_aep_connection):
    aep_emulator.inject_fault(
        "GET",
        f"{FLOW}/connections/*",
        status=404,
        raw_body="<html><body>nginx: Not Found</body></html>",
        content_type="text/html",
    )
    with pytest.raises(AdobeApiError) as info:
        AdobeExperiencePlatformHook().get_connection_by_id("abc")
    assert "HTTP 404" in str(info.value) and "text/html" in str(info.value)


def test_test_connection_reports_org_and_sandbox(aep_emulator, aep_connection):
    ok, message = AdobeExperiencePlatformHook().test_connection()
    assert ok, message
    assert aep_emulator.org_id in message and "'prod'" in message


def test_wrong_secret_fails_even_after_right_secret_succeeded(aep_emulator, aep_connection, monkeypatch):
    assert AdobeExperiencePlatformHook().test_connection()[0]
    conn = aep_emulator.airflow_connection()
    conn["password"] = "definitely-not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_AEP_WRONG", json.dumps(conn))
    ok, message = AdobeExperiencePlatformHook(aep_conn_id="aep_wrong").test_connection()
    assert not ok
    assert "invalid_client" in message and "Client secret" in message
    assert "). Check the Client ID (login) and Client secret (password)" in message  # reads as sentences
    assert "definitely-not-the-secret" not in message
    assert aep_emulator.token_requests == 1  # only the right secret ever got a token


def test_wrong_org_fails_readably(aep_emulator, aep_connection, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_OTHER_ORG", aep_emulator.airflow_connection_json(org_id="OTHERORG999@AdobeOrg")
    )
    ok, message = AdobeExperiencePlatformHook(aep_conn_id="aep_other_org").test_connection()
    assert not ok
    assert "HTTP 401" in message and "org ID" in message


def test_ims_5xx_is_retried(aep_emulator, fast_aep_connection):
    aep_emulator.inject_fault("POST", "/ims/token/v3", status=503)
    assert AdobeExperiencePlatformHook().test_connection()[0]
    assert [e.status for e in aep_emulator.requests("POST", "/ims/token/v3")] == [503, 200]


def test_unreachable_platform_is_readable(aep_emulator, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = aep_emulator.airflow_connection(backoff_base=0.01, max_retries=2)
    conn["host"] = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DOWN", json.dumps(conn))
    hook = AdobeExperiencePlatformHook(aep_conn_id="aep_down")
    with pytest.raises(AdobeApiError) as info:
        hook.get_connection_spec(BQ_SPEC)
    assert "could not connect" in str(info.value)
    assert info.value.ambiguous is False


def test_pager_follows_next_links_lazily(aep_emulator, aep_connection, service_account_key):
    hook = AdobeExperiencePlatformHook()
    for i in range(7):
        hook.create_connection(_connection_body(service_account_key, name=f"conn-{i}"))
    aep_emulator.clear_journal()
    pages = hook.paginate("/connections", params={"limit": 3})
    first = next(pages)
    assert first["name"].startswith("conn-")
    assert len(aep_emulator.requests("GET", f"{FLOW}/connections")) == 1  # lazily: one page so far
    names = [first["name"], *(item["name"] for item in pages)]
    assert sorted(names) == [f"conn-{i}" for i in range(7)]
    gets = aep_emulator.requests("GET", f"{FLOW}/connections")
    assert len(gets) == 3
    assert "continuationToken" in gets[1].query


def test_find_connections_matches_exact_name(aep_emulator, aep_connection, service_account_key):
    hook = AdobeExperiencePlatformHook()
    hook.create_connection(_connection_body(service_account_key, name="crm"))
    hook.create_connection(_connection_body(service_account_key, name="crm-2"))
    found = hook.find_connections(name="crm", connection_spec_id=BQ_SPEC)
    assert [c["name"] for c in found] == ["crm"]
    query = aep_emulator.requests("GET", f"{FLOW}/connections")[-1].query
    assert sorted(query["property"]) == sorted([f"connectionSpec.id=={BQ_SPEC}", "name==crm"])


def test_no_secret_in_logs(aep_emulator, fast_aep_connection, service_account_key, caplog, capfd, monkeypatch):
    caplog.set_level(logging.DEBUG)
    with record_issued_tokens() as tokens:
        hook = AdobeExperiencePlatformHook()
        hook.test_connection()
        aep_emulator.inject_fault("GET", f"{FLOW}/connectionSpecs/*", status=503)
        hook.get_connection_spec(BQ_SPEC)
        aep_emulator.expire_tokens()
        hook.create_connection(_connection_body(service_account_key))
        conn = aep_emulator.airflow_connection()
        conn["password"] = "wrong-secret-value-42"
        monkeypatch.setenv("AIRFLOW_CONN_AEP_BAD", json.dumps(conn))
        AdobeExperiencePlatformHook(aep_conn_id="aep_bad").test_connection()
        assert hook.get_access_token() == tokens[-1]
    # Every token of the test: the first one (expired on purpose) and its renewal.
    assert len(tokens) == aep_emulator.token_requests == 2
    text = _all_output(caplog, capfd)
    for secret in (aep_emulator.client_secret, *tokens, "wrong-secret-value-42"):
        for form in encodings(secret):  # raw, URL-encoded, JSON-escaped, Base64
            assert form not in text, f"a form of {secret[:4]}... appears in the log"
    assert "retry" in text  # the run did log, so the check is not vacuous
