"""End to end on a real Airflow 3 deployment: connection form, Test button, DAG runs, deferral, logs, links.

One deployment (PostgreSQL, api-server, scheduler, dag-processor, triggerer, LocalExecutor) and one
AEP emulator serve every test of this module. See tests/deployment/README.md.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_aep._connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from tests.deployment.conftest import (
    BASE_DAG,
    SCREENSHOTS,
    DagRunResult,
    docs_screenshots_wanted,
)
from tests.deployment.deployment import REPO_ROOT
from tests.reliability.support import encodings

if TYPE_CHECKING:
    from tests.deployment.deployment import AirflowDeployment, ApiClient

pytestmark = pytest.mark.deployment

CONN_TYPE = "adobe_experience_platform"
HOOK_NAME = "Adobe Experience Platform"
STANDARD_LABELS = UI_FIELD_BEHAVIOUR["relabeling"]  # field -> label
HIDDEN_STANDARD = {"schema": "Schema"}
DOCS_FORM = REPO_ROOT / "docs" / "connection-form.png"
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
# The emulator's IMS access tokens: "eyJ" + 64 URL-safe characters, no dots (unlike a JWT).
BEARER_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{60,}(?![A-Za-z0-9_.-])")
PORT_BUG = "differs from the stored connection"


# ---------------------------------------------------------------------------------------- helpers
def ti_path(run: DagRunResult, task_id: str) -> str:
    return f"{run.path}/taskInstances/{task_id}"


def task_log(api: ApiClient, run: DagRunResult, task_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The raw JSON text and the entries of a task's log (try 1), as the UI reads them."""
    ti = run.task_instances[task_id]
    resp = api.get(f"{ti_path(run, task_id)}/logs/{ti['try_number']}", headers={"Accept": "application/json"})
    assert resp.status_code == 200, resp.text[:500]
    return resp.text, resp.json()["content"]


def secret_forms(deployment: AirflowDeployment, tokens: list[str]) -> dict[str, str]:
    """Every encoded form (raw, URL-encoded, Base64 several ways, JSON-escaped) -> the secret's name."""
    named = dict(deployment.secret_values())
    named.update({f"IMS access token {number}": token for number, token in enumerate(tokens)})
    forms: dict[str, str] = {}
    for name, value in named.items():
        for form in encodings(value):
            forms.setdefault(form, name)
    return forms


def assert_no_secret(text: str, forms: dict[str, str], where: str) -> None:
    leaked = sorted({name for form, name in forms.items() if form in text})
    assert not leaked, f"{', '.join(leaked)} appear(s) in {where} (raw or encoded)"
    found = BEARER_LIKE.findall(text)
    assert not found, f"something shaped like an IMS access token appears in {where}: {found[0][:12]}..."


def events_text(entries: list[dict[str, Any]]) -> str:
    return "\n".join(str(e.get("event", "")) for e in entries)


# ---------------------------------------------------------------------------------------- REST API
def test_hook_meta_serves_the_adobe_form(api: ApiClient) -> None:
    """What the 3.3 UI builds the form from: GET /ui/connections/hook_meta on the API server."""
    metas = {m["connection_type"]: m for m in api.json("GET", "/ui/connections/hook_meta")}
    assert CONN_TYPE in metas, f"{CONN_TYPE} not offered; types: {sorted(metas)}"
    meta = metas[CONN_TYPE]
    assert meta["hook_name"] == HOOK_NAME
    assert meta["hook_class_name"] == "airflow_provider_aep.hooks.aep.AdobeExperiencePlatformHook"

    standard = meta["standard_fields"]
    for field, label in STANDARD_LABELS.items():
        assert standard[field]["hidden"] is False
        assert standard[field]["title"] == label
        assert standard[field]["placeholder"] == UI_FIELD_BEHAVIOUR["placeholders"][field]
    assert standard["url_schema"]["hidden"] is True

    extras = meta["extra_fields"]
    assert set(extras) == set(CONN_FIELDS)
    for name, spec in CONN_FIELDS.items():
        assert extras[name]["schema"]["title"] == spec["label"], name
        assert extras[name]["description"] == spec["description"], name
        assert len(spec["description"]) <= 120, f"help of {name} is not short"
        if "default" in spec["schema"]:
            assert extras[name]["value"] == spec["schema"]["default"], name


def _test_body(emulator: Any, **overrides: Any) -> dict[str, Any]:
    conn = emulator.airflow_connection()
    extra = {**conn["extra"], **overrides.pop("extra", {})}
    body = {
        "connection_id": "aep_rest_test",
        "conn_type": conn["conn_type"],
        "host": conn["host"],
        "login": conn["login"],
        "password": conn["password"],
        "extra": json.dumps(extra),
    }
    body.update(overrides)
    return body


def test_connection_test_endpoint(api: ApiClient, emulator: Any) -> None:
    """POST /api/v2/connections/test: success names org and sandbox; failures say why."""
    ok = api.json("POST", "/api/v2/connections/test", json=_test_body(emulator))
    assert ok["status"] is True, ok
    assert emulator.org_id in ok["message"]
    assert "prod" in ok["message"]

    bad_secret = api.json("POST", "/api/v2/connections/test", json=_test_body(emulator, password="wrong-secret-42"))
    assert bad_secret["status"] is False
    assert "invalid_client" in bad_secret["message"]
    assert "Client secret" in bad_secret["message"]
    assert "wrong-secret-42" not in bad_secret["message"]

    other_org = "0123456789ABCDEF01234567@AdobeOrg"
    bad_org = api.json("POST", "/api/v2/connections/test", json=_test_body(emulator, extra={"org_id": other_org}))
    assert bad_org["status"] is False
    assert other_org in bad_org["message"]
    assert "org" in bad_org["message"].lower()


def test_base_connection_dag_runs_and_returns_the_connection_id(
    api: ApiClient, base_run: DagRunResult, emulator: Any
) -> None:
    states = {t: ti["state"] for t, ti in base_run.task_instances.items()}
    assert base_run.state == "success", states
    assert set(states.values()) == {"success"}, states

    xcom = api.json("GET", f"{ti_path(base_run, 'create_bigquery_base_connection')}/xcomEntries/return_value")
    connection_id = xcom["value"]
    created = {c["id"]: c for c in emulator.resources("connections")}
    assert connection_id in created
    assert created[connection_id]["name"] == "bigquery-crm-e2e"

    links = api.json("GET", f"{ti_path(base_run, 'create_bigquery_base_connection')}/links")["extra_links"]
    assert links["AEP source account"].endswith(f"/platform/source/accounts/{connection_id}")
    assert links["AEP source account"].startswith("https://experience.adobe.com/#/sname:prod/")


def test_task_logs_have_provider_lines_and_no_secret(
    api: ApiClient,
    dag_runs: dict[str, DagRunResult],
    deployment: AirflowDeployment,
    emulator: Any,
    ims_tokens: list[str],
) -> None:
    base = dag_runs[BASE_DAG]
    connection_id = api.json("GET", f"{ti_path(base, 'create_bigquery_base_connection')}/xcomEntries/return_value")[
        "value"
    ]
    _, entries = task_log(api, base, "create_bigquery_base_connection")
    provider_info = [
        e for e in entries if e.get("level") == "info" and "airflow_provider_aep" in str(e.get("logger", ""))
    ]
    text = events_text(provider_info)
    assert f"org {emulator.org_id}, sandbox prod, service auth" in text, events_text(entries)
    assert f"Base connection {connection_id} created" in text

    _, basic = task_log(api, base, "create_bigquery_base_connection_basic")
    assert "basic auth" in events_text(basic)
    _, described = task_log(api, base, "describe_connection")
    assert f"AEP base connection {connection_id}" in events_text(described)

    # The tasks really did fetch tokens, and every one the emulator issued is searched for.
    assert ims_tokens, "the emulator issued no IMS token: the token checks below would be vacuous"
    assert len(ims_tokens) == emulator.token_requests
    forms = secret_forms(deployment, ims_tokens)
    checked = 0
    for run in dag_runs.values():
        for task_id in run.task_instances:
            raw, entries = task_log(api, run, task_id)
            where = f"the log of {run.dag_id}.{task_id}"
            assert_no_secret(raw, forms, where)
            assert_no_secret(events_text(entries), forms, where)
            checked += 1
    assert checked >= 4


def test_rendered_fields_hide_the_google_secrets(
    api: ApiClient, base_run: DagRunResult, deployment: AirflowDeployment, ims_tokens: list[str]
) -> None:
    """The basic-auth task renders the Google client secret and refresh token from Variables."""
    ti = api.json("GET", ti_path(base_run, "create_bigquery_base_connection_basic"))
    rendered = json.dumps(ti.get("rendered_fields") or {})
    assert "apps.googleusercontent.com" in rendered  # the fields were rendered at all
    assert ims_tokens, "the emulator issued no IMS token"
    assert_no_secret(rendered, secret_forms(deployment, ims_tokens), "the rendered template fields")


def test_dataflow_sensor_defers_and_the_triggerer_resumes_it(api: ApiClient, dataflow_run: DagRunResult) -> None:
    states = {t: ti["state"] for t, ti in dataflow_run.task_instances.items()}
    assert dataflow_run.state == "success", (states, dataflow_run.history)
    sensors = [t for t, ti in dataflow_run.task_instances.items() if ti["operator"] == "DataflowRunSensor"]
    assert sensors, states
    for sensor in sensors:
        assert "deferred" in dataflow_run.history[sensor], dataflow_run.history[sensor]
        assert states[sensor] == "success"
        raw, entries = task_log(api, dataflow_run, sensor)
        text = events_text(entries)
        assert "Pausing task as DEFERRED" in text
        assert "Trigger fired event" in text, text  # written by the triggerer process
        assert ".trigger." in raw  # the triggerer's own log file is part of the task log
        assert re.search(r"Dataflow run \S+ success", text), text

    jobs = api.json("GET", "/api/v2/jobs", params={"job_type": "TriggererJob"})["jobs"]
    assert any(j["state"] == "running" for j in jobs), jobs

    links = api.json("GET", f"{ti_path(dataflow_run, 'run_dataflow')}/links")["extra_links"]
    assert "/platform/source/dataflows/" in links.get("AEP dataflow", ""), links


# ---------------------------------------------------------------------------------------- browser
def _field(dialog: Any, label: str) -> Any:
    """The form field whose label reads ``label`` (the extra fields' labels lack a matching ``for``)."""
    pattern = re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$")
    return dialog.locator('[data-part="root"][role="group"]').filter(
        has=dialog.page.locator("label").filter(has_text=pattern)
    )


def _open_adobe_form(page: Any, base_url: str) -> Any:
    page.goto(f"{base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    combo = dialog.get_by_role("combobox", name="Connection Type")
    combo.click()
    options = page.get_by_role("option").all_inner_texts()
    assert HOOK_NAME in options, options
    page.get_by_role("option", name=HOOK_NAME, exact=True).click()
    return dialog


def _section(dialog: Any, name: str) -> None:
    """Open one section of the form ("Standard Fields", "Extra Fields"): an accordion."""
    button = dialog.get_by_role("button", name=name, exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()
    dialog.page.wait_for_timeout(400)  # the accordion animates


def _check_form_fields(dialog: Any) -> None:
    placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
    _section(dialog, "Standard Fields")
    for field, label in STANDARD_LABELS.items():
        box = _field(dialog, label).locator(f'input[name="{field}"]')
        assert box.is_visible(), label
        assert box.get_attribute("placeholder") == placeholders[field], label
    assert _field(dialog, STANDARD_LABELS["password"]).locator("input").get_attribute("type") == "password"
    for label in HIDDEN_STANDARD.values():
        assert _field(dialog, label).count() == 0, f"standard field {label} should be hidden"
    assert dialog.locator('textarea[name="extra"], input[name="schema"]').count() == 0
    _section(dialog, "Extra Fields")
    for name, spec in CONN_FIELDS.items():
        field = _field(dialog, spec["label"])
        assert field.count() == 1, spec["label"]
        assert field.is_visible(), spec["label"]
        assert field.locator(".chakra-field__helperText").inner_text().strip() == spec["description"], name
    _check_extra_inputs(dialog)


# What a user sees in each extra field of a new connection, written out literally (not read from
# _connection_form.py) so that a renamed default or placeholder fails here.
EXPECTED_EXTRA_VALUES = {
    "IMS org ID": "",
    "Sandbox": "prod",
    "Scopes": "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session",
    "IMS URL": "https://ims-na1.adobelogin.com",
    "Timeout (seconds)": "60",
    "Max retries": "5",
}
EXPECTED_EXTRA_PLACEHOLDERS = {
    "IMS org ID": "0123456789ABCDEF01234567@AdobeOrg",
    "Sandbox": "prod",
    "Scopes": "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session",
    "IMS URL": "https://ims-na1.adobelogin.com",
    "Timeout (seconds)": "60",
    "Max retries": "5",
}
PLACEHOLDER_LIMIT = (
    "Airflow 3.3.2's connection form shows no placeholder on extra fields: its FlexibleForm sets one only "
    "from a schema's `examples` (a generic 'choose from the examples' text), never from "
    "ui-field-behaviour placeholders, which it applies to the standard fields only"
)


def _extra_inputs(dialog: Any) -> dict[str, tuple[str | None, str]]:
    """label -> (placeholder, value) of each extra text or number input."""
    seen = {}
    for label in EXPECTED_EXTRA_VALUES:
        box = _field(dialog, label).locator("input")
        assert box.count() == 1, label
        seen[label] = (box.get_attribute("placeholder"), box.input_value())
    return seen


def _check_extra_inputs(dialog: Any) -> None:
    """Pre-filled value of each extra input, the org ID's example, and the hosting choice (azure, aws)."""
    seen = _extra_inputs(dialog)
    assert {label: value for label, (_, value) in seen.items()} == EXPECTED_EXTRA_VALUES
    # With no placeholder shown (see PLACEHOLDER_LIMIT), the org ID's format is in its help text.
    org = _field(dialog, "IMS org ID")
    assert "0123456789ABCDEF01234567@AdobeOrg" in org.inner_text(), org.inner_text()
    hosting = _field(dialog, "AEP hosting")
    assert "azure" in hosting.inner_text().splitlines(), hosting.inner_text()  # pre-selected
    hosting.get_by_role("combobox").click()
    options = [t.strip() for t in dialog.page.get_by_role("option").all_inner_texts()]
    assert sorted(options) == ["aws", "azure"], options
    dialog.page.get_by_role("option", name="azure", exact=True).click()  # closes the list (Escape would close the form)


def _fill_form(dialog: Any, conn_id: str, emulator: Any, secret: str) -> None:
    _field(dialog, "Connection ID").locator("input").fill(conn_id)
    _section(dialog, "Standard Fields")
    # As the README says: host, and the port filled in (443 for Adobe; the emulator's port here).
    _field(dialog, STANDARD_LABELS["host"]).locator("input").fill(emulator.url.rsplit(":", 1)[0])
    _field(dialog, STANDARD_LABELS["port"]).locator("input").fill(str(emulator.port))
    _field(dialog, STANDARD_LABELS["login"]).locator("input").fill(emulator.client_id)
    _field(dialog, STANDARD_LABELS["password"]).locator("input").fill(secret)
    _section(dialog, "Extra Fields")
    _field(dialog, CONN_FIELDS["org_id"]["label"]).locator("input").fill(emulator.org_id)
    _field(dialog, CONN_FIELDS["sandbox_name"]["label"]).locator("input").fill("prod")
    _field(dialog, CONN_FIELDS["ims_url"]["label"]).locator("input").fill(emulator.url)
    _field(dialog, CONN_FIELDS["cloud"]["label"]).get_by_role("combobox").click()
    dialog.page.get_by_role("option", name="azure", exact=True).click()


def _save(dialog: Any, page: Any, conn_id: str) -> None:
    dialog.get_by_role("button", name="Save").click()
    page.get_by_role("dialog").wait_for(state="hidden")
    page.get_by_role("row").filter(has_text=conn_id).wait_for()


def _press_test(page: Any, conn_id: str) -> tuple[str, dict[str, Any] | str]:
    """Press the row's Test button; return the toast text and the API's answer."""
    row = page.get_by_role("row").filter(has_text=conn_id)
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as resp_info:
        row.get_by_role("button", name="Test Connection").click()
    resp = resp_info.value
    try:
        answer: dict[str, Any] | str = resp.json()
    except Exception:
        answer = resp.text()
    toast = page.get_by_role("status").filter(has_text="Test Connection").last
    toast.wait_for()
    page.wait_for_timeout(800)  # the toast slides in
    return toast.inner_text(), answer


def _press_test_from_list(page: Any, base_url: str, conn_id: str) -> tuple[str, Any]:
    """Open the connection list afresh (no toast left from saving) and press the row's Test button.

    With the port filled in, Airflow 3.3.2's Test button works; without it, that release sends
    port 0 and its API refuses the test (apache/airflow#73298, fixed after 3.3.2).
    """
    page.goto(f"{base_url}/connections")
    text, answer = _press_test(page, conn_id)
    assert PORT_BUG not in str(answer), answer
    return text, answer


def test_browser_connection_form_and_test_button(page: Any, deployment: AirflowDeployment, emulator: Any) -> None:
    base_url = deployment.base_url
    page.set_viewport_size({"width": 1400, "height": 1700})
    dialog = _open_adobe_form(page, base_url)
    _check_form_fields(dialog)
    _fill_form(dialog, "aep_ui", emulator, emulator.client_secret)
    dialog.screenshot(path=str(SCREENSHOTS / "connection-form-extra-fields.png"))
    _section(dialog, "Standard Fields")
    dialog.screenshot(path=str(SCREENSHOTS / "connection-form.png"))
    if docs_screenshots_wanted(DOCS_FORM):
        shutil.copy(SCREENSHOTS / "connection-form.png", DOCS_FORM)
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(SCREENSHOTS / "connection-form-extra-fields.png", DOCS_SCREENSHOTS)
    _save(dialog, page, "aep_ui")
    page.set_viewport_size({"width": 1400, "height": 900})

    text, answer = _press_test_from_list(page, base_url, "aep_ui")
    page.screenshot(path=str(SCREENSHOTS / "connection-test-success.png"))
    assert isinstance(answer, dict) and answer.get("status") is True, answer
    assert "Test Connection Successful" in text, text
    assert emulator.org_id in text and "sandbox 'prod'" in text, text

    # The same credential with a wrong secret, added through the form again.
    dialog = _open_adobe_form(page, base_url)
    _fill_form(dialog, "aep_ui_wrong_secret", emulator, "not-the-secret-123")
    _save(dialog, page, "aep_ui_wrong_secret")
    text, answer = _press_test_from_list(page, base_url, "aep_ui_wrong_secret")
    page.screenshot(path=str(SCREENSHOTS / "connection-test-failure.png"))
    assert isinstance(answer, dict) and answer.get("status") is False, answer
    assert "Test Connection Failed" in text, text
    assert "invalid_client" in text and "Client secret" in text, text
    assert "not-the-secret-123" not in text

    if docs_screenshots_wanted(DOCS_SCREENSHOTS / "connection-test-success.png"):
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name in ("connection-test-success.png", "connection-test-failure.png"):
            shutil.copy(SCREENSHOTS / name, DOCS_SCREENSHOTS / name)


@pytest.mark.xfail(strict=True, reason=PLACEHOLDER_LIMIT)
def test_browser_extra_fields_show_placeholders(page: Any, deployment: AirflowDeployment) -> None:
    """Each extra input's placeholder, e.g. the IMS org ID's ``...@AdobeOrg`` (the provider declares them)."""
    dialog = _open_adobe_form(page, deployment.base_url)
    _section(dialog, "Extra Fields")
    placeholders = {label: placeholder for label, (placeholder, _) in _extra_inputs(dialog).items()}
    assert placeholders == EXPECTED_EXTRA_PLACEHOLDERS


def test_browser_task_shows_the_aep_link(page: Any, deployment: AirflowDeployment, base_run: DagRunResult) -> None:
    from urllib.parse import quote

    assert base_run.state == "success"
    task_id = "create_bigquery_base_connection"
    page.goto(f"{deployment.base_url}/dags/{BASE_DAG}/runs/{quote(base_run.run_id, safe='')}/tasks/{task_id}")
    page.get_by_role("link", name="Details", exact=True).click()  # the task's Details tab lists extra links
    page.get_by_role("heading", name="Extra Links").wait_for()
    link = page.get_by_role("link", name="AEP source account")
    link.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "task-extra-link.png"))
    if docs_screenshots_wanted(DOCS_SCREENSHOTS / "task-extra-link.png"):
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(SCREENSHOTS / "task-extra-link.png", DOCS_SCREENSHOTS / "task-extra-link.png")
    href = link.get_attribute("href") or ""
    assert href.startswith("https://experience.adobe.com/#/sname:prod/platform/source/accounts/"), href
