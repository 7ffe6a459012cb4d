"""Provider registration: the dict Airflow reads, and the connection form on Airflow 3.3 and 2.11."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import pytest

from airflow_provider_aep import get_provider_info

AIRFLOW_3 = airflow.__version__.startswith("3.")
EXPECTED_FIELDS = {
    "org_id": "IMS org ID",
    "sandbox_name": "Sandbox",
    "scopes": "Scopes",
    "ims_url": "IMS URL",
    "cloud": "AEP hosting",
    "timeout": "Timeout (seconds)",
    "max_retries": "Max retries",
}


def test_entry_point_points_at_get_provider_info():
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_aep")]
    assert ep.load() is get_provider_info


def test_provider_info_validates_against_airflow_schema():
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_matches_distribution():
    from importlib.metadata import distribution

    assert get_provider_info()["package-name"] == distribution("airflow-provider-aep").metadata["Name"]


def test_connection_type_is_registered_with_hook_attributes():
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook as Hook

    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == Hook.conn_type == "adobe_experience_platform"
    assert conn_type["hook-name"] == Hook.hook_name == "Adobe Experience Platform"
    assert conn_type["hook-class-name"] == f"{Hook.__module__}.{Hook.__qualname__}"
    assert Hook.conn_name_attr == "aep_conn_id" and Hook.default_conn_name == "aep_default"


def test_providers_manager_knows_the_hook():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-aep" in manager.providers
    try:  # Airflow 3: tasks resolve hooks through the Task SDK's manager
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hooks = ProvidersManagerTaskRuntime().hooks
    except ImportError:  # Airflow 2
        hooks = manager.hooks
    hook_info = hooks["adobe_experience_platform"]
    assert hook_info is not None
    assert hook_info.hook_name == "Adobe Experience Platform"
    assert hook_info.connection_id_attribute_name == "aep_conn_id"


@pytest.mark.skipif(not AIRFLOW_3, reason="Airflow 3 UI reads the form from provider info through hook_meta")
def test_airflow3_hook_meta_shows_the_form():
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "adobe_experience_platform"]
    assert meta.hook_name == "Adobe Experience Platform"
    behaviour = meta.standard_fields
    assert behaviour is not None
    assert behaviour.login.title == "Client ID"
    assert behaviour.password.title == "Client secret"
    assert behaviour.host.title == "Platform API URL"
    assert behaviour.host.placeholder == "https://platform.adobe.io"
    assert behaviour.url_schema.hidden
    assert not behaviour.port.hidden and behaviour.port.placeholder == "443"  # see _connection_form.py
    extra = meta.extra_fields or {}
    for name, label in EXPECTED_FIELDS.items():
        assert extra[name]["schema"]["title"] == label, name
        assert extra[name]["description"], name
    assert extra["sandbox_name"]["value"] == "prod"
    assert extra["cloud"]["schema"]["enum"] == ["azure", "aws"]
    assert "@AdobeOrg" in extra["org_id"]["description"]


@pytest.mark.skipif(AIRFLOW_3, reason="Airflow 2 builds the form from the hook's widget methods")
def test_airflow2_widgets_show_the_form():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    for name, label in EXPECTED_FIELDS.items():
        widget = widgets[f"extra__adobe_experience_platform__{name}"]
        assert str(widget.field.args[0]) == label, name
    behaviour = manager.field_behaviours["adobe_experience_platform"]
    assert behaviour["relabeling"]["login"] == "Client ID"
    assert behaviour["relabeling"]["password"] == "Client secret"
    assert "schema" in behaviour["hidden_fields"] and "port" not in behaviour["hidden_fields"]
    assert behaviour["placeholders"]["extra__adobe_experience_platform__org_id"].endswith("@AdobeOrg")


def test_get_provider_info_is_import_light():
    import subprocess
    import sys

    heavy = "('requests', 'google.auth', 'httpx', 'airflow_provider_aep.hooks.aep')"
    code = (
        "import sys; import airflow_provider_aep as p; p.get_provider_info(); "
        f"print(','.join(m for m in {heavy} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
