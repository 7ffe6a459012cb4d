"""No secret given to or fetched by CreateBigQueryBaseConnectionOperator shows up anywhere a run leaves
text behind: logs and console output (``dag.test()`` does not redact them, so this proves the provider
never prints a secret itself), exception texts of failed tasks, XComs and stored rendered template fields.
Every secret is also registered with Airflow's masker."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from airflow_provider_aep._compat import redact
from tests.helpers.dags import run_dag, task_states
from tests.operators.conftest import (
    GOOGLE_ACCESS_TOKEN,
    GOOGLE_CLIENT_ID,
    all_xcoms,
    b64,
    dag_body,
    rendered_fields,
    run_text,
    set_gcp_connection,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

# Fresh values for this module only, so masks registered by other tests cannot help.
CLIENT_SECRET = "GOCSPX-secretsTestClientSecret_4kT9wQ"
REFRESH_TOKEN = "1//0gSecretsTestRefreshToken-Rz8Yx7Wv6Ut5"

TASKS = """
# a Google access token is minted with the key (verify_google_credentials) at the local token endpoint
from_dict = CreateBigQueryBaseConnectionOperator(
    task_id="from_dict", name="bq-dict", key_file_content=KEY, verify_google_credentials=True
)
from_json = CreateBigQueryBaseConnectionOperator(task_id="from_json", name="bq-json", key_file_content=KEY_JSON)
from_b64 = CreateBigQueryBaseConnectionOperator(task_id="from_b64", name="bq-b64", key_file_content=KEY_B64)
from_gcp = CreateBigQueryBaseConnectionOperator(task_id="from_gcp", name="bq-gcp", gcp_conn_id="gcp_secrets")
basic = CreateBigQueryBaseConnectionOperator(
    task_id="basic", name="bq-basic", project_id="acme-crm-prod",
    google_client_id=CLIENT_ID,
    # Variables whose names Airflow does not consider sensitive: only the provider can mask them
    google_client_secret="{{ var.value.bq_cs }}",
    google_refresh_token="{{ var.value.bq_rt }}",
    verify_google_credentials=True, google_token_uri=TOKEN_URI,
)
# failures: a damaged copy of the real private key, an existing name, Google refusing, Adobe's test failing
bad_key = CreateBigQueryBaseConnectionOperator(task_id="bad_key", name="bq-bad", key_file_content=BAD_KEY)
exists = CreateBigQueryBaseConnectionOperator(
    task_id="exists", name="bq-dict", key_file_content=KEY_JSON, if_exists="error"
)
refused = CreateBigQueryBaseConnectionOperator(
    task_id="refused", name="bq-refused", key_file_content=KEY_B64, verify_google_credentials=True,
    google_token_uri=REFUSING_TOKEN_URI,
)
refused_basic = CreateBigQueryBaseConnectionOperator(
    task_id="refused_basic", name="bq-refused-basic", project_id="acme-crm-prod",
    google_client_id=CLIENT_ID, google_client_secret="{{ var.value.bq_cs }}",
    google_refresh_token="{{ var.value.bq_rt }}", verify_google_credentials=True,
    google_token_uri=REFUSING_TOKEN_URI,
)
untested = CreateBigQueryBaseConnectionOperator(
    task_id="untested", name="bq-untested", key_file_content=KEY, test_after_create=True,
    project_id="fail-test-project",
)
from_dict >> exists
"""


def forms(secret: str) -> set[str]:
    """A secret as it could be printed: raw, JSON-escaped, Base64."""
    return {secret, json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode()}


def key_secrets(key: dict) -> dict[str, str]:
    pem = key["private_key"]
    body_lines = [line for line in pem.splitlines() if "PRIVATE KEY" not in line]
    found = {
        "key json": json.dumps(key),
        "key json pretty": json.dumps(key, indent=2),
        "key json compact": json.dumps(key, separators=(",", ":")),
        "key base64": b64(json.dumps(key)),
        "key pretty base64": b64(json.dumps(key, indent=2)),
        "private key": pem,
        "private key json-escaped": json.dumps(pem)[1:-1],
        "private key body": "".join(body_lines),
    }
    found.update({f"private key line {n}": line for n, line in enumerate(body_lines)})
    return found


def test_no_secret_anywhere_after_a_run(
    aep, dags_folder, service_account_key, google_token_server, monkeypatch, capfd, caplog
):
    import logging

    caplog.set_level(logging.DEBUG)
    key = {**service_account_key, "token_uri": google_token_server.url}
    refusing = type(google_token_server)()  # a second endpoint that answers invalid_grant
    refusing.mode = "invalid_grant"
    try:
        pem_lines = key["private_key"].splitlines()
        bad_key = {**key, "private_key": "\n".join(pem_lines[:8] + pem_lines[-1:]) + "\n"}
        set_gcp_connection(monkeypatch, {"keyfile_dict": json.dumps(key, indent=2)}, conn_id="gcp_secrets")
        monkeypatch.setenv("AIRFLOW_VAR_BQ_CS", CLIENT_SECRET)
        monkeypatch.setenv("AIRFLOW_VAR_BQ_RT", REFRESH_TOKEN)
        aep.clear_journal()
        dr = run_dag(
            dags_folder,
            dag_body(
                TASKS,
                KEY=key,
                KEY_JSON=json.dumps(key, indent=2),
                KEY_B64=b64(json.dumps(key, indent=2)),
                BAD_KEY=bad_key,
                CLIENT_ID=GOOGLE_CLIENT_ID,
                TOKEN_URI=google_token_server.url,
                REFUSING_TOKEN_URI=refusing.url,
            ),
        )
    finally:
        refusing.stop()
    states = task_states(dr)
    assert states == {
        "from_dict": "success",
        "from_json": "success",
        "from_b64": "success",
        "from_gcp": "success",
        "basic": "success",
        "bad_key": "failed",
        "exists": "failed",
        "refused": "failed",
        "refused_basic": "failed",
        "untested": "failed",
    }
    assert len(google_token_server.requests) == 2  # the key and the refresh token were both used for real
    assert len(refusing.requests) == 2

    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    issued = aep.token_requests
    ims_token = AdobeExperiencePlatformHook().get_access_token()  # the run's token, from the process cache
    assert aep.token_requests == issued

    text = run_text(capfd, caplog)
    # the failures really happened, with their messages, in the collected text
    for expected in (
        "google-auth cannot load this service-account key",
        "already exists",
        "Google refused to issue a token for service account",
        "Google refused to issue a token for OAuth client",
        "Adobe could not reach BigQuery project fail-test-project",
    ):
        assert expected in text
    xcoms = all_xcoms(dr.dag_id)
    assert {(t, k) for t, k, _ in xcoms} >= {("from_dict", "return_value"), ("basic", "etag"), ("from_gcp", "aep_url")}
    rendered = rendered_fields(dr.dag_id)
    assert set(rendered) >= {"from_dict", "basic"}
    assert rendered["basic"]["google_client_id"] == GOOGLE_CLIENT_ID  # stored, and not a secret
    haystacks: dict[str, str] = {
        "logs and console": text,
        "xcoms": repr(xcoms),
        "rendered fields": json.dumps(rendered, default=str),
    }

    secrets: dict[str, str] = {
        **key_secrets(key),
        "google client secret": CLIENT_SECRET,
        "google refresh token": REFRESH_TOKEN,
        "google access token": GOOGLE_ACCESS_TOKEN,
        "adobe client secret": aep.client_secret,
        "ims access token": ims_token,
    }
    leaks = [
        f"{name} ({form[:12]}...) in {where}"
        for name, secret in secrets.items()
        for form in forms(secret)
        for where, haystack in haystacks.items()
        if form in haystack
    ]
    assert leaks == []

    # and each is registered with Airflow's secrets masker
    masked = {
        "key json": json.dumps(key),
        "key json pretty": json.dumps(key, indent=2),
        "key base64": b64(json.dumps(key)),
        "key pretty base64": b64(json.dumps(key, indent=2)),
        "private key": key["private_key"],
        "google client secret": CLIENT_SECRET,
        "google refresh token": REFRESH_TOKEN,
        "google access token": GOOGLE_ACCESS_TOKEN,
        "adobe client secret": aep.client_secret,
        "ims access token": ims_token,
    }
    unmasked = [name for name, value in masked.items() if value in str(redact(f"x {value} y"))]
    assert unmasked == []


def _walk(value: Any) -> list[str]:
    """All strings inside a nested value."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _walk(v)]
    return [value] if isinstance(value, str) else []


def test_rendered_secrets_are_stored_masked(aep, dags_folder, monkeypatch):
    """The rendered template fields Airflow stores hold the masked form of the Google secrets."""
    monkeypatch.setenv("AIRFLOW_VAR_BQ_CS", CLIENT_SECRET)
    monkeypatch.setenv("AIRFLOW_VAR_BQ_RT", REFRESH_TOKEN)
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="basic", name="bq-basic-{{ ds_nodash }}", project_id="acme-crm-prod",
                google_client_id=CLIENT_ID, google_client_secret="{{ var.value.bq_cs }}",
                google_refresh_token="{{ var.value.bq_rt }}",
            )
            """,
            CLIENT_ID=GOOGLE_CLIENT_ID,
        ),
    )
    assert task_states(dr) == {"basic": "success"}
    fields = rendered_fields(dr.dag_id)["basic"]
    assert fields["name"].startswith("bq-basic-2")  # rendered, so the row is the real one
    assert "***" in str(fields["google_client_secret"])
    assert "***" in str(fields["google_refresh_token"])
    assert not {CLIENT_SECRET, REFRESH_TOKEN} & set(_walk(fields))
