"""Reading the Airflow connection: every field, both extra spellings, and readable errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.hooks._settings import AepConnectionSettings


def conn(**overrides):
    fields = {
        "conn_id": "aep_default",
        "login": "client-123",
        "password": "s3cret-value",
        "host": None,
        "port": None,
        "extra_dejson": {"org_id": "ABC123@AdobeOrg"},
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_defaults():
    s = AepConnectionSettings.from_connection(conn())
    assert s.platform_url == "https://platform.adobe.io"
    assert s.flow_service_url == "https://platform.adobe.io/data/foundation/flowservice"
    assert s.token_url == "https://ims-na1.adobelogin.com/ims/token/v3"
    assert s.sandbox_name == "prod" and s.cloud == "azure"
    assert s.scopes == "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
    assert s.timeout == 60.0 and s.max_retries == 5
    assert "s3cret-value" not in repr(s)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("platform.adobe.io", None, "https://platform.adobe.io"),
        ("https://platform-stage.adobe.io/", None, "https://platform-stage.adobe.io"),
        ("http://127.0.0.1:8099", None, "http://127.0.0.1:8099"),
        ("127.0.0.1", 8099, "https://127.0.0.1:8099"),
        ("http://localhost", 9000, "http://localhost:9000"),
        ("https://proxy.example.com/aep", None, "https://proxy.example.com/aep"),
    ],
)
def test_host_forms(host, port, expected):
    assert AepConnectionSettings.from_connection(conn(host=host, port=port)).platform_url == expected


def test_old_extra_spelling_is_read():
    extra = {
        "extra__adobe_experience_platform__org_id": "OLD999@AdobeOrg",
        "extra__adobe_experience_platform__sandbox_name": "dev",
        "extra__adobe_experience_platform__cloud": "aws",
        "extra__adobe_experience_platform__timeout": "12.5",
        "extra__adobe_experience_platform__max_retries": "2",
    }
    s = AepConnectionSettings.from_connection(conn(extra_dejson=extra))
    assert (s.org_id, s.sandbox_name, s.cloud, s.timeout, s.max_retries) == ("OLD999@AdobeOrg", "dev", "aws", 12.5, 2)


def test_plain_spelling_wins_and_empty_plain_falls_back():
    extra = {"org_id": "", "extra__adobe_experience_platform__org_id": "OLD999@AdobeOrg", "sandbox_name": "dev"}
    s = AepConnectionSettings.from_connection(conn(extra_dejson=extra))
    assert s.org_id == "OLD999@AdobeOrg" and s.sandbox_name == "dev"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"login": ""}, "'Client ID' (login) is empty"),
        ({"password": None}, "'Client secret' (password) is empty"),
        ({"extra_dejson": {}}, "extra 'org_id' (IMS org ID) is required"),
        ({"extra_dejson": {"org_id": "ABC123"}}, "extra 'org_id' must look like"),
        ({"extra_dejson": {"org_id": "ABC123@AdobeOrg", "sandbox_name": "Prod"}}, "extra 'sandbox_name'"),
        ({"extra_dejson": {"org_id": "ABC123@AdobeOrg", "cloud": "gcp"}}, "extra 'cloud' must be 'azure' or 'aws'"),
        ({"extra_dejson": {"org_id": "ABC123@AdobeOrg", "timeout": "soon"}}, "extra 'timeout' must be a float"),
        ({"extra_dejson": {"org_id": "ABC123@AdobeOrg", "timeout": 0}}, "extra 'timeout' must be positive"),
        ({"extra_dejson": {"org_id": "ABC123@AdobeOrg", "max_retries": 1.5}}, "extra 'max_retries' must be a int"),
        ({"extra_dejson": {"org_id": "ABC123@AdobeOrg", "scopes": " , "}}, "extra 'scopes' is empty"),
        ({"host": "ftp://platform.adobe.io"}, "'host' must be an http(s) URL"),
        ({"host": "https://user:pw@platform.adobe.io"}, "must not carry credentials"),
        ({"extra_dejson": {"org_id": "ABC123@AdobeOrg", "ims_url": "https://ims?x=1"}}, "'ims_url' must not carry"),
    ],
)
def test_bad_fields_are_named(overrides, fragment):
    with pytest.raises(AepInputError) as info:
        AepConnectionSettings.from_connection(conn(**overrides))
    assert fragment in str(info.value)
    assert "Airflow connection 'aep_default'" in str(info.value) or "extra" in str(info.value)
    assert "s3cret-value" not in str(info.value)


@pytest.mark.parametrize(
    "host",
    [
        "https://user:hunter2-pass@platform.adobe.io:bad",  # invalid port: the message quotes the URL
        "ftp://user:hunter2-pass@platform.adobe.io",
        "http://user:hunter2-pass@platform.adobe.io",  # plain http off loopback
        "user:hunter2-pass@platform.adobe.io:99999",
    ],
)
def test_a_password_written_into_the_host_is_never_quoted(host):
    with pytest.raises(AepInputError) as info:
        AepConnectionSettings.from_connection(conn(host=host))
    assert "hunter2-pass" not in str(info.value)
    assert "'host'" in str(info.value)


def test_host_port_and_port_field_that_disagree_are_refused():
    """The Airflow 3.3 Test button needs the port field filled: a different port in the URL is a mistake."""
    with pytest.raises(AepInputError) as info:
        AepConnectionSettings.from_connection(conn(host="http://127.0.0.1:8099", port=443))
    assert str(info.value) == (
        "Airflow connection 'aep_default': 'host' names port 8099 but the port field says 443; keep one of them."
    )
    same = AepConnectionSettings.from_connection(conn(host="http://127.0.0.1:8099", port=8099))
    assert same.platform_url == "http://127.0.0.1:8099"
