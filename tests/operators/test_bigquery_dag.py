"""CreateBigQueryBaseConnectionOperator end to end: real ``dag.test()`` runs (Airflow 3.3 and 2.11)
against the AEP emulator, with the emulator's request journal as evidence."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_aep.links import source_accounts_url
from tests.helpers.dags import load_dag, run_dag, task_states, write_dag, xcom
from tests.helpers.keys import make_service_account_key
from tests.operators.conftest import (
    BQ_SPEC_ID,
    FLOW,
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_REFRESH_TOKEN,
    b64,
    dag_body,
    decode_key_file_content,
    journal_posts,
    run_text,
    set_gcp_connection,
    wait_for,
)

if TYPE_CHECKING:
    from airflow_provider_aep.testing import AepEmulator

pytestmark = pytest.mark.usefixtures("airflow_db")

SERVICE_SPEC = "Service Authentication"
BASIC_SPEC = "Basic Authentication"


@pytest.fixture(scope="module")
def other_key() -> dict:
    """A second service-account key (another RSA key), for updates."""
    return make_service_account_key(project_id="acme-crm-prod")


# ----------------------------------------------------------------------------------------- helpers
def flow_calls(emu: AepEmulator) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in emu.journal if e.path.startswith(FLOW)]


def assert_adobe_headers(entry: Any, emu: AepEmulator, *, json_body: bool) -> None:
    headers = entry.headers
    assert headers["authorization"] == "Bearer <redacted>"  # present (the journal hides the token)
    assert headers["x-api-key"] == emu.client_id
    assert headers["x-gw-ims-org-id"] == emu.org_id
    assert headers["x-sandbox-name"] == "prod"
    if json_body:
        assert headers["content-type"] == "application/json"


def service_body(name: str, project: str, key: dict | None = None, **extra_params: str) -> dict:
    """The exact POST /connections body the reference specifies for service auth (minus the key)."""
    params: dict[str, Any] = {"projectId": project, **extra_params}
    return {
        "name": name,
        "auth": {"specName": SERVICE_SPEC, "params": params},
        "connectionSpec": {"id": BQ_SPEC_ID, "version": "1.0"},
    }


def posted_body(emu: AepEmulator) -> dict:
    """The one POST /connections body; checks the key decodes and returns the body without it."""
    (post,) = journal_posts(emu)
    assert_adobe_headers(post, emu, json_body=True)
    body = json.loads(json.dumps(post.body))
    body["auth"]["params"].pop("keyFileContent", None)
    return body


def posted_key(emu: AepEmulator) -> dict:
    (post,) = journal_posts(emu)
    return decode_key_file_content(post.body["auth"]["params"]["keyFileContent"])


def bare_etag(value: str | None) -> str | None:
    """Etag without its quotes.

    On Airflow 3.3 reading a string XCom from the metadata DB (``TaskInstance.xcom_pull`` in the test
    process) JSON-decodes it a second time, turning ``"abc"`` (with quotes) into ``abc``.
    """
    return value.strip('"') if isinstance(value, str) else value


def one_task(**arguments: Any) -> str:
    """Source of one create task reading the key from ``KEY``; ``arguments`` are Python values."""
    arguments = {"name": "bq-crm", **arguments}
    rest = "".join(f", {k}={v!r}" for k, v in arguments.items())
    return f'CreateBigQueryBaseConnectionOperator(task_id="create", key_file_content=KEY{rest})'


def the_connection(emu: AepEmulator) -> dict:
    (conn,) = emu.resources("connections")
    return conn


def create_connection_directly(emu: AepEmulator, name: str, key: dict, project: str = "acme-crm-prod") -> dict:
    """Make a connection as if an earlier run (or a person) had created it; the journal is cleared."""
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    body = service_body(name, project)
    body["auth"]["params"]["keyFileContent"] = b64(key)
    created = AdobeExperiencePlatformHook().create_connection(body)
    emu.clear_journal()
    return created


# ----------------------------------------------------------------------------------------- service auth
KEY_FORMS = {
    "dict": lambda key: key,
    "json-text": lambda key: json.dumps(key),
    "json-text-as-downloaded": lambda key: json.dumps(key, indent=2) + "\n",
    "base64": lambda key: b64(key),
    "base64-with-line-breaks": lambda key: "\n".join(b64(key)[i : i + 76] for i in range(0, len(b64(key)), 76)),
    "json-text-with-bom": lambda key: "\ufeff" + json.dumps(key, indent=2),
}


@pytest.mark.parametrize("form", list(KEY_FORMS), ids=list(KEY_FORMS))
def test_service_auth_key_forms(form, aep, dags_folder, service_account_key):
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="create", name="bq-crm", description="CRM project", key_file_content=KEY
            )
            """,
            KEY=KEY_FORMS[form](service_account_key),
        ),
    )
    assert task_states(dr) == {"create": "success"}
    token, lookup, post = aep.journal
    assert (token.method, token.path) == ("POST", "/ims/token/v3")
    assert (lookup.method, lookup.path) == ("GET", f"{FLOW}/connections")
    assert sorted(lookup.query["property"]) == [f"connectionSpec.id=={BQ_SPEC_ID}", "name==bq-crm"]
    assert_adobe_headers(lookup, aep, json_body=False)
    assert (post.method, post.path, post.status) == ("POST", f"{FLOW}/connections", 201)
    expected = service_body("bq-crm", "acme-crm-prod")
    expected["description"] = "CRM project"
    assert posted_body(aep) == expected
    assert set(post.body["auth"]["params"]) == {"projectId", "keyFileContent"}
    assert posted_key(aep) == service_account_key
    stored = the_connection(aep)
    assert xcom(dr, "create") == stored["id"]
    assert bare_etag(xcom(dr, "create", "etag")) == bare_etag(stored["etag"])
    assert xcom(dr, "create", "aep_url") == source_accounts_url("prod", stored["id"])


def test_service_auth_without_description_and_with_large_results_dataset(aep, dags_folder, service_account_key):
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="create", name="bq-{{ params.env }}", key_file_content=KEY, project_id="{{ params.project }}",
                large_results_dataset_id="aep_staging", params={"env": "qa", "project": "acme-analytics-01"},
            )
            """,
            KEY=service_account_key,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    assert posted_body(aep) == service_body("bq-qa", "acme-analytics-01", largeResultsDataSetId="aep_staging")
    assert flow_calls(aep) == [("GET", f"{FLOW}/connections"), ("POST", f"{FLOW}/connections")]


GCP_EXTRAS = {
    "keyfile_dict-plain": lambda key, path: {"keyfile_dict": json.dumps(key), "project": "acme-analytics-01"},
    "keyfile_dict-prefixed": lambda key, path: {
        "extra__google_cloud_platform__keyfile_dict": json.dumps(key),
        "extra__google_cloud_platform__project": "acme-analytics-01",
    },
    "keyfile_dict-as-object": lambda key, path: {"keyfile_dict": key, "project": "acme-analytics-01"},
    "key_path-plain": lambda key, path: {"key_path": str(path), "project": "acme-analytics-01"},
    "key_path-prefixed": lambda key, path: {
        "extra__google_cloud_platform__key_path": str(path),
        "extra__google_cloud_platform__project": "acme-analytics-01",
    },
}


@pytest.mark.parametrize("spelling", list(GCP_EXTRAS), ids=list(GCP_EXTRAS))
def test_service_auth_from_gcp_connection(spelling, aep, dags_folder, service_account_key, tmp_key_file, monkeypatch):
    set_gcp_connection(monkeypatch, GCP_EXTRAS[spelling](service_account_key, tmp_key_file))
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(task_id="create", name="bq-gcp", gcp_conn_id="google_cloud_default")
            """
        ),
    )
    assert task_states(dr) == {"create": "success"}
    # the connection's project wins over the key's own project_id (acme-crm-prod)
    assert posted_body(aep) == service_body("bq-gcp", "acme-analytics-01")
    assert posted_key(aep) == service_account_key
    assert xcom(dr, "create") == the_connection(aep)["id"]


def test_gcp_connection_without_project_uses_the_key_project(aep, dags_folder, service_account_key, monkeypatch):
    set_gcp_connection(monkeypatch, {"keyfile_dict": json.dumps(service_account_key)}, conn_id="gcp_bq")
    dr = run_dag(
        dags_folder,
        dag_body('CreateBigQueryBaseConnectionOperator(task_id="create", name="bq-gcp", gcp_conn_id="gcp_bq")'),
    )
    assert task_states(dr) == {"create": "success"}
    assert posted_body(aep) == service_body("bq-gcp", "acme-crm-prod")


# ----------------------------------------------------------------------------------------- basic auth
def test_basic_auth(aep, dags_folder):
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="create", name="bq-oauth", project_id="acme-crm-prod",
                google_client_id=CLIENT_ID, google_client_secret=SECRET, google_refresh_token=REFRESH,
            )
            """,
            CLIENT_ID=GOOGLE_CLIENT_ID,
            SECRET=GOOGLE_CLIENT_SECRET,
            REFRESH=GOOGLE_REFRESH_TOKEN,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    (post,) = journal_posts(aep)
    assert_adobe_headers(post, aep, json_body=True)
    assert post.body == {
        "name": "bq-oauth",
        "auth": {
            "specName": BASIC_SPEC,
            "type": "OAuth2.0",
            "params": {
                "project": "acme-crm-prod",
                "clientId": GOOGLE_CLIENT_ID,
                "clientSecret": GOOGLE_CLIENT_SECRET,
                "refreshToken": GOOGLE_REFRESH_TOKEN,
            },
        },
        "connectionSpec": {"id": BQ_SPEC_ID, "version": "1.0"},
    }
    assert xcom(dr, "create") == the_connection(aep)["id"]


# ----------------------------------------------------------------------------------------- AWS
def test_aws_service_auth_sends_dataset_id(aws_aep, dags_folder, service_account_key):
    dr = run_dag(
        dags_folder,
        dag_body(
            one_task(name="bq-aws", dataset_id="crm"),
            KEY=service_account_key,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    body = posted_body(aws_aep)
    assert body == service_body("bq-aws", "acme-crm-prod", datasetId="crm")
    assert "largeResultsDataSetId" not in body["auth"]["params"]
    assert posted_key(aws_aep) == service_account_key
    assert xcom(dr, "create") == the_connection(aws_aep)["id"]


def test_aws_basic_auth_is_rejected_before_any_request(aws_aep, dags_folder, capfd, caplog):
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="create", name="bq-aws", project_id="acme-crm-prod", dataset_id="crm",
                google_client_id=CLIENT_ID, google_client_secret=SECRET, google_refresh_token=REFRESH,
            )
            """,
            CLIENT_ID=GOOGLE_CLIENT_ID,
            SECRET=GOOGLE_CLIENT_SECRET,
            REFRESH=GOOGLE_REFRESH_TOKEN,
        ),
    )
    assert task_states(dr) == {"create": "failed"}
    assert "auth_type: Experience Platform on AWS accepts only service auth" in run_text(capfd, caplog)
    assert aws_aep.journal == []


# ----------------------------------------------------------------------------------------- if_exists
def test_if_exists_reuse(aep, dags_folder, service_account_key, other_key):
    existing = create_connection_directly(aep, "bq-crm", service_account_key)
    dr = run_dag(
        dags_folder,
        dag_body(one_task(), KEY=other_key),
    )
    assert task_states(dr) == {"create": "success"}
    assert flow_calls(aep) == [("GET", f"{FLOW}/connections")]
    assert xcom(dr, "create") == existing["id"]
    assert bare_etag(xcom(dr, "create", "etag")) == bare_etag(existing["etag"])
    conn = the_connection(aep)
    assert decode_key_file_content(conn["auth"]["params"]["keyFileContent"]) == service_account_key  # untouched


def test_if_exists_update(aep, dags_folder, service_account_key, other_key):
    existing = create_connection_directly(aep, "bq-crm", service_account_key)
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="create", name="bq-crm", key_file_content=KEY, if_exists="update"
            )
            """,
            KEY=other_key,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    assert flow_calls(aep) == [("GET", f"{FLOW}/connections"), ("PATCH", f"{FLOW}/connections/{existing['id']}")]
    (patch,) = aep.requests("PATCH")
    assert_adobe_headers(patch, aep, json_body=True)
    assert patch.headers["if-match"] == existing["etag"]
    assert patch.status == 200
    (operation,) = patch.body
    assert operation["op"] == "replace"
    assert operation["path"] == "/auth/params"
    assert operation["value"]["projectId"] == "acme-crm-prod"
    assert decode_key_file_content(operation["value"]["keyFileContent"]) == other_key
    conn = the_connection(aep)
    assert decode_key_file_content(conn["auth"]["params"]["keyFileContent"]) == other_key
    assert conn["etag"] != existing["etag"]
    assert xcom(dr, "create") == existing["id"]
    assert bare_etag(xcom(dr, "create", "etag")) == bare_etag(conn["etag"])


def test_if_exists_update_rereads_a_stale_etag(aep, dags_folder, service_account_key, other_key):
    existing = create_connection_directly(aep, "bq-crm", service_account_key)
    aep.inject_fault("PATCH", f"{FLOW}/connections/*", status=412)
    dr = run_dag(
        dags_folder,
        dag_body(
            one_task(if_exists="update"),
            KEY=other_key,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    cid = existing["id"]
    assert flow_calls(aep) == [
        ("GET", f"{FLOW}/connections"),
        ("PATCH", f"{FLOW}/connections/{cid}"),
        ("GET", f"{FLOW}/connections/{cid}"),
        ("PATCH", f"{FLOW}/connections/{cid}"),
    ]
    assert [p.status for p in aep.requests("PATCH")] == [412, 200]
    assert decode_key_file_content(the_connection(aep)["auth"]["params"]["keyFileContent"]) == other_key


def test_if_exists_error(aep, dags_folder, service_account_key, capfd, caplog):
    existing = create_connection_directly(aep, "bq-crm", service_account_key)
    dr = run_dag(
        dags_folder,
        dag_body(
            one_task(if_exists="error"),
            KEY=service_account_key,
        ),
    )
    assert task_states(dr) == {"create": "failed"}
    text = run_text(capfd, caplog)
    assert f"name: a BigQuery base connection named 'bq-crm' already exists ({existing['id']})" in text
    assert flow_calls(aep) == [("GET", f"{FLOW}/connections")]
    assert len(aep.resources("connections")) == 1


def test_rerun_of_the_same_dag_reuses_the_connection(aep, dags_folder, service_account_key):
    dag_id, path = write_dag(
        dags_folder,
        dag_body(
            one_task(),
            KEY=service_account_key,
        ),
    )
    first = load_dag(path, dag_id).test()
    second = load_dag(path, dag_id).test()
    assert task_states(first) == task_states(second) == {"create": "success"}
    assert first.run_id != second.run_id
    conn = the_connection(aep)  # exactly one
    assert xcom(first, "create") == xcom(second, "create") == conn["id"]
    assert len(journal_posts(aep)) == 1


# ----------------------------------------------------------------------------------------- ambiguous failures
def test_post_applied_then_500_yields_one_connection(aep, dags_folder, service_account_key):
    aep.inject_fault("POST", "*/connections", status=500, after_apply=True)
    dr = run_dag(
        dags_folder,
        dag_body(
            one_task(),
            KEY=service_account_key,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    conn = the_connection(aep)
    assert xcom(dr, "create") == conn["id"]
    assert flow_calls(aep) == [
        ("GET", f"{FLOW}/connections"),
        ("POST", f"{FLOW}/connections"),
        ("GET", f"{FLOW}/connections"),  # looked before sending again: it was there
    ]
    assert [(p.status, p.fault) for p in journal_posts(aep)] == [(500, True)]


def test_post_applied_then_read_timeout_yields_one_connection(aep, dags_folder, service_account_key, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep.airflow_connection_json(backoff_base=0.01, timeout=0.5))
    aep.inject_fault("POST", "*/connections", delay=2.0, after_apply=True)
    dr = run_dag(
        dags_folder,
        dag_body(
            one_task(),
            KEY=service_account_key,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    conn = the_connection(aep)
    assert xcom(dr, "create") == conn["id"]
    assert wait_for(lambda: len(journal_posts(aep)) == 1)  # the slow answer is journalled when sent
    assert len(aep.resources("connections")) == 1
    assert [m for m, _ in flow_calls(aep)].count("POST") == 1


def test_post_that_fails_cleanly_is_not_looked_up_again(aep, dags_folder, service_account_key, capfd, caplog):
    """A 400 is not ambiguous: fail at once, no lookup, no second POST."""
    aep.inject_fault("POST", "*/connections", status=400)
    dr = run_dag(
        dags_folder,
        dag_body(
            one_task(),
            KEY=service_account_key,
        ),
    )
    assert task_states(dr) == {"create": "failed"}
    assert flow_calls(aep) == [("GET", f"{FLOW}/connections"), ("POST", f"{FLOW}/connections")]
    assert "POST /connections failed: HTTP 400" in run_text(capfd, caplog)
    assert aep.resources("connections") == []


# ----------------------------------------------------------------------------------------- XCom downstream, test
def test_downstream_task_receives_id_and_etag_through_xcom(aep, dags_folder, service_account_key, tmp_path):
    out = tmp_path / "downstream.json"
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            create = CreateBigQueryBaseConnectionOperator(task_id="create", name="bq-crm", key_file_content=KEY)

            @task
            def use(connection_id, etag, url):
                import json
                from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

                conn = AdobeExperiencePlatformHook().get_connection_by_id(connection_id)
                with open(OUT, "w") as f:
                    json.dump({"id": connection_id, "etag": etag, "url": url, "name": conn["name"],
                               "spec": conn["auth"]["specName"]}, f)

            use(create.output, create.output["etag"], create.output["aep_url"])
            """,
            KEY=service_account_key,
            OUT=str(out),
        ),
    )
    assert task_states(dr) == {"create": "success", "use": "success"}
    conn = the_connection(aep)
    assert json.loads(out.read_text()) == {
        "id": conn["id"],
        "etag": conn["etag"],  # the task itself sees the etag exactly as Adobe sent it
        "url": source_accounts_url("prod", conn["id"]),
        "name": "bq-crm",
        "spec": SERVICE_SPEC,
    }
    assert aep.requests("GET", f"{FLOW}/connections/{conn['id']}")


@pytest.mark.parametrize("result", [True, False], ids=["reachable", "unreachable"])
def test_test_after_create(result, aep, dags_folder, service_account_key, capfd, caplog):
    aep.set_connection_test_result(result)
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="create", name="bq-crm", key_file_content=KEY, test_after_create=True
            )
            """,
            KEY=service_account_key,
        ),
    )
    conn = the_connection(aep)
    assert flow_calls(aep)[-1] == ("GET", f"{FLOW}/connections/{conn['id']}/test")
    if result:
        assert task_states(dr) == {"create": "success"}
        assert xcom(dr, "create") == conn["id"]
    else:
        assert task_states(dr) == {"create": "failed"}
        text = run_text(capfd, caplog)
        assert f"Adobe could not reach BigQuery project acme-crm-prod with base connection {conn['id']}" in text


def test_verify_google_credentials_in_a_dag(aep, dags_folder, service_account_key, google_token_server):
    key = {**service_account_key, "token_uri": google_token_server.url}
    dr = run_dag(
        dags_folder,
        dag_body(
            """
            CreateBigQueryBaseConnectionOperator(
                task_id="create", name="bq-crm", key_file_content=KEY, verify_google_credentials=True
            )
            """,
            KEY=key,
        ),
    )
    assert task_states(dr) == {"create": "success"}
    (grant,) = google_token_server.requests
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert posted_key(aep) == key


def test_extra_link_opens_the_connection_in_aep(aep, dags_folder, service_account_key):
    """The task's "AEP source account" button, read the way the web server reads it (Airflow 2.11).

    Airflow 3 resolves links in the API server: the deployment test clicks it there.
    """
    from airflow_provider_aep._compat import AIRFLOW_V3
    from airflow_provider_aep.links import AepConnectionLink

    if AIRFLOW_V3:
        pytest.skip("Airflow 3 reads links through its API server: covered by tests/deployment")
    dr = run_dag(
        dags_folder,
        dag_body(
            'CreateBigQueryBaseConnectionOperator(task_id="create", name="bq-crm", key_file_content=KEY)',
            KEY=service_account_key,
        ),
    )
    ti = dr.get_task_instance("create")
    link = AepConnectionLink().get_link(ti.task, ti_key=ti.key)
    assert link == source_accounts_url("prod", the_connection(aep)["id"])
    assert link.startswith("https://experience.adobe.com/#/sname:prod/platform/source/accounts/")
