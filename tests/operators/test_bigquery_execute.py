"""CreateBigQueryBaseConnectionOperator.execute() called directly (no DAG): Google credential checks
against a local token endpoint, key forms Adobe must get as standard Base64, and secret masking."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from airflow_provider_aep._compat import redact
from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator
from tests.operators.conftest import (
    FLOW,
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_REFRESH_TOKEN,
    b64,
    decode_key_file_content,
    journal_posts,
    run_execute,
    run_text,
)

UNREACHABLE_TOKEN_URI = "http://127.0.0.1:9/token"  # discard port: nothing listens


def make_op(**kwargs) -> CreateBigQueryBaseConnectionOperator:
    kwargs.setdefault("name", "bq-crm")
    return CreateBigQueryBaseConnectionOperator(task_id="create", **kwargs)


def posted_key_file_content(emu) -> str:
    (post,) = journal_posts(emu)
    return post.body["auth"]["params"]["keyFileContent"]


# ----------------------------------------------------------------------------------------- Google checks
def test_verify_service_account_mints_a_token_at_the_key_token_uri(aep, service_account_key, google_token_server):
    key = {**service_account_key, "token_uri": google_token_server.url}
    connection_id, _ = run_execute(make_op(key_file_content=key, verify_google_credentials=True))
    (grant,) = google_token_server.requests
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    _header, claims, _signature = grant["assertion"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert claims["iss"] == key["client_email"]
    assert "https://www.googleapis.com/auth/bigquery" in claims["scope"]
    assert connection_id == aep.resources("connections")[0]["id"]
    assert redact(google_token_server.access_token) != google_token_server.access_token


def test_verify_service_account_rejected_by_google_fails_before_adobe(aep, service_account_key, google_token_server):
    google_token_server.mode = "invalid_grant"
    key = {**service_account_key, "token_uri": google_token_server.url}
    with pytest.raises(AepInputError) as info:
        run_execute(make_op(key_file_content=key, verify_google_credentials=True))
    assert str(info.value) == (
        f"key_file_content: Google refused to issue a token for service account {key['client_email']}: "
        "invalid_grant Invalid JWT Signature."
    )
    assert len(google_token_server.requests) == 1
    assert aep.journal == []


def test_google_token_uri_argument_wins_over_the_key(aep, service_account_key, google_token_server):
    key = {**service_account_key, "token_uri": UNREACHABLE_TOKEN_URI}
    run_execute(make_op(key_file_content=key, verify_google_credentials=True, google_token_uri=google_token_server.url))
    assert len(google_token_server.requests) == 1
    # the key Adobe gets is the key as given, not rewritten with the override
    assert decode_key_file_content(posted_key_file_content(aep)) == key


def test_unreachable_google_token_endpoint_fails_before_adobe(aep, service_account_key):
    key = {**service_account_key, "token_uri": UNREACHABLE_TOKEN_URI}
    with pytest.raises(AepInputError, match=r"^key_file_content: could not reach Google's token endpoint"):
        run_execute(make_op(key_file_content=key, verify_google_credentials=True))
    assert aep.journal == []


@pytest.mark.parametrize(
    ("auth", "extra", "field"),
    [
        ("service", {"large_results_dataset_id": "acme-crm-prod.staging"}, "large_results_dataset_id"),
        ("service", {"dataset_id": "crm"}, "dataset_id"),  # dataset_id is for AEP on AWS; this org is on Azure
        ("basic", {"large_results_dataset_id": "bad dataset"}, "large_results_dataset_id"),
    ],
)
def test_bad_input_fails_before_google_is_asked(aep, service_account_key, google_token_server, auth, extra, field):
    """verify_google_credentials is the operator's only call before Adobe: it waits for every local check."""
    if auth == "service":
        creds = {"key_file_content": {**service_account_key, "token_uri": google_token_server.url}}
    else:
        creds = {
            "project_id": "acme-crm-prod",
            "google_client_id": GOOGLE_CLIENT_ID,
            "google_client_secret": GOOGLE_CLIENT_SECRET,
            "google_refresh_token": GOOGLE_REFRESH_TOKEN,
            "google_token_uri": google_token_server.url,
        }
    with pytest.raises(AepInputError, match=rf"^{field}: "):
        run_execute(make_op(verify_google_credentials=True, **creds, **extra))
    assert google_token_server.requests == []
    assert aep.journal == []


def test_verify_refresh_token(aep, google_token_server):
    op = make_op(
        project_id="acme-crm-prod",
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        google_refresh_token=GOOGLE_REFRESH_TOKEN,
        verify_google_credentials=True,
        google_token_uri=google_token_server.url,
    )
    run_execute(op)
    (grant,) = google_token_server.requests
    assert grant["grant_type"] == "refresh_token"
    assert (grant["client_id"], grant["client_secret"], grant["refresh_token"]) == (
        GOOGLE_CLIENT_ID,
        GOOGLE_CLIENT_SECRET,
        GOOGLE_REFRESH_TOKEN,
    )
    assert len(journal_posts(aep)) == 1


def test_refresh_token_rejected_by_google_fails_before_adobe(aep, google_token_server):
    google_token_server.mode = "invalid_grant"
    op = make_op(
        project_id="acme-crm-prod",
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        google_refresh_token=GOOGLE_REFRESH_TOKEN,
        verify_google_credentials=True,
        google_token_uri=google_token_server.url,
    )
    with pytest.raises(AepInputError) as info:
        run_execute(op)
    message = str(info.value)
    assert message.startswith(
        f"google_refresh_token: Google refused to issue a token for OAuth client {GOOGLE_CLIENT_ID}"
    )
    assert "invalid_grant" in message
    assert GOOGLE_CLIENT_SECRET not in message and GOOGLE_REFRESH_TOKEN not in message
    assert aep.journal == []


# ----------------------------------------------------------------------------------------- key forms
def test_url_safe_base64_and_bytes_are_sent_as_standard_base64(aep, service_account_key):
    """Adobe wants standard Base64 of the key file, whatever form the key came in."""
    text = json.dumps(service_account_key, indent=2)
    url_safe = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    run_execute(make_op(key_file_content=url_safe))
    sent = posted_key_file_content(aep)
    assert sent == b64(text)
    assert decode_key_file_content(sent) == service_account_key
    aep.reset()
    run_execute(make_op(name="bq-bytes", key_file_content=text.encode()))
    assert posted_key_file_content(aep) == b64(text)


def test_key_file_with_byte_order_mark_in_gcp_connection(aep, service_account_key, tmp_path, monkeypatch):
    from tests.operators.conftest import set_gcp_connection

    path = tmp_path / "key.json"
    path.write_text(json.dumps(service_account_key, indent=2), encoding="utf-8-sig")  # as Notepad saves it
    set_gcp_connection(monkeypatch, {"key_path": str(path)})
    run_execute(make_op(gcp_conn_id="google_cloud_default"))
    assert decode_key_file_content(posted_key_file_content(aep)) == service_account_key


def test_reuse_of_a_connection_with_another_auth_spec_warns_and_update_refuses(aep, service_account_key, capfd, caplog):
    run_execute(
        make_op(
            project_id="acme-crm-prod",
            google_client_id=GOOGLE_CLIENT_ID,
            google_client_secret=GOOGLE_CLIENT_SECRET,
            google_refresh_token=GOOGLE_REFRESH_TOKEN,
        )
    )
    (existing,) = aep.resources("connections")
    aep.clear_journal()
    connection_id, _ = run_execute(make_op(key_file_content=service_account_key))
    assert connection_id == existing["id"]
    assert "uses Basic Authentication, not Service Authentication" in run_text(capfd, caplog)
    with pytest.raises(AepInputError, match=r"^auth_type: base connection .* cannot be updated"):
        run_execute(make_op(key_file_content=service_account_key, if_exists="update"))
    assert aep.requests("PATCH") == [] and journal_posts(aep) == []


# ----------------------------------------------------------------------------------------- masking
def test_secrets_with_surrounding_whitespace_are_masked_as_sent(aep):
    """Templated secrets often end with a newline; the stripped value Adobe gets must be masked too."""
    secret, refresh = f"GOCSPX-{uuid.uuid4().hex}", f"1//0g{uuid.uuid4().hex}"
    op = make_op(
        project_id="acme-crm-prod",
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=f"  {secret}\n",
        google_refresh_token=f"{refresh}\n",
    )
    run_execute(op)
    (post,) = journal_posts(aep)
    assert post.body["auth"]["params"]["clientSecret"] == secret
    assert post.body["auth"]["params"]["refreshToken"] == refresh
    for value in (secret, refresh):
        assert value not in str(redact(f"value={value}"))


def test_xcoms_hold_id_etag_and_link_only(aep, service_account_key):
    connection_id, ti = run_execute(make_op(key_file_content=service_account_key))
    (stored,) = aep.resources("connections")
    assert connection_id == stored["id"]
    assert ti.xcoms == {
        "etag": stored["etag"],
        "aep_url": f"https://experience.adobe.com/#/sname:prod/platform/source/accounts/{stored['id']}",
    }
    assert [e.path for e in aep.journal if e.path.startswith(FLOW)] == [f"{FLOW}/connections"] * 2
