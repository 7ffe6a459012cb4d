"""Every bad input to CreateBigQueryBaseConnectionOperator fails with a message naming the argument,
before any request reaches Adobe (the emulator's journal stays empty) and without quoting a secret."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.operators.bigquery import CreateBigQueryBaseConnectionOperator
from tests.operators.conftest import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_REFRESH_TOKEN,
    b64,
    private_key_body,
    run_execute,
    set_gcp_connection,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DAMAGED_PEM = (
    "-----BEGIN PRIVATE KEY-----\nTm90IGEga2V5IGF0IGFsbCwganVzdCBnYXJiYWdlIGJ5dGVz\nAAAA\n-----END PRIVATE KEY-----\n"
)


@dataclass
class Case:
    """One bad input: build(key, tmp_path) gives the operator kwargs; ``fragments`` must be in the error."""

    build: Callable[[dict, Path], dict[str, Any]]
    fragments: tuple[str, ...]
    cloud: str = "azure"
    gcp_extra: dict[str, Any] | None = None
    aep_extra: dict[str, Any] = field(default_factory=dict)


def basic(**overrides: Any) -> dict[str, Any]:
    kwargs = {
        "name": "bq",
        "project_id": "acme-crm-prod",
        "google_client_id": GOOGLE_CLIENT_ID,
        "google_client_secret": GOOGLE_CLIENT_SECRET,
        "google_refresh_token": GOOGLE_REFRESH_TOKEN,
    }
    kwargs.update(overrides)
    return {k: v for k, v in kwargs.items() if v is not None}


def without(key: dict, *names: str) -> dict:
    return {k: v for k, v in key.items() if k not in names}


def other_pem(key: dict, kind: str) -> str:
    """PEM blocks that are not a usable RSA private key (derived from the test key: no key generation)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if kind == "ec":
        return (
            ec.generate_private_key(ec.SECP256R1())
            .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            .decode()
        )
    rsa_key = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    if kind == "pkcs1":  # "BEGIN RSA PRIVATE KEY": Python's google-auth loads it, Adobe does not
        return rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
    return (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def truncated_pem(key: dict) -> dict:
    lines = key["private_key"].splitlines()
    middle = lines[1 : len(lines) // 2]
    return {**key, "private_key": "\n".join([lines[0], *middle, lines[-1]]) + "\n"}


CASES: dict[str, Case] = {
    "name-missing": Case(lambda k, p: {"name": "", "key_file_content": k}, ("name:", "non-empty")),
    "name-blank": Case(lambda k, p: {"name": "   ", "key_file_content": k}, ("name:",)),
    "name-too-long": Case(lambda k, p: {"name": "x" * 257, "key_file_content": k}, ("name:", "256")),
    "name-not-text": Case(lambda k, p: {"name": 42, "key_file_content": k}, ("name:",)),
    "service-without-key": Case(
        lambda k, p: {"name": "bq", "auth_type": "service", "project_id": "acme-crm-prod"},
        ("key_file_content:", "service auth needs the service-account key", "gcp_conn_id"),
    ),
    "auth-type-unknown": Case(
        lambda k, p: {"name": "bq", "auth_type": "oauth", "key_file_content": k}, ("auth_type:", "'oauth'")
    ),
    "auth-ambiguous": Case(lambda k, p: {**basic(), "key_file_content": k}, ("auth_type:", "ambiguous")),
    "auth-none": Case(
        lambda k, p: {"name": "bq", "project_id": "acme-crm-prod"}, ("auth_type:", "no Google credentials")
    ),
    "service-with-basic-args": Case(
        lambda k, p: {
            "name": "bq",
            "auth_type": "service",
            "key_file_content": k,
            "google_client_secret": GOOGLE_CLIENT_SECRET,
        },
        ("auth_type:", "'service' was chosen", "google_client_secret"),
    ),
    "basic-with-key": Case(
        lambda k, p: {**basic(), "auth_type": "basic", "key_file_content": k}, ("auth_type:", "'basic' was chosen")
    ),
    "key-and-gcp-conn": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "gcp_conn_id": "google_cloud_default"},
        ("key_file_content:", "gcp_conn_id", "not both"),
    ),
    "project-too-short": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "project_id": "acme"}, ("project_id:", "'acme'")
    ),
    "project-too-long": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "project_id": "a" * 31}, ("project_id:", "6 to 30")
    ),
    "project-upper-case": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "project_id": "Acme-CRM-Prod"}, ("project_id:", "lower-case")
    ),
    "project-starts-with-digit": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "project_id": "1acme-crm"},
        ("project_id:", "starting with a letter"),
    ),
    "project-ends-with-hyphen": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "project_id": "acme-crm-"},
        ("project_id:", "not ending with a hyphen"),
    ),
    "project-underscore": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "project_id": "acme_crm_prod"},
        ("project_id:", "'acme_crm_prod'"),
    ),
    "project-missing-everywhere": Case(
        lambda k, p: {"name": "bq", "key_file_content": without(k, "project_id")}, ("project_id:", "required")
    ),
    "key-not-json": Case(
        lambda k, p: {"name": "bq", "key_file_content": '{"type": "service_account", '},
        ("key_file_content:", "not valid JSON"),
    ),
    "key-json-array-text": Case(
        lambda k, p: {"name": "bq", "key_file_content": json.dumps([k])}, ("key_file_content:", "JSON object", "list")
    ),
    "key-python-list": Case(lambda k, p: {"name": "bq", "key_file_content": [k]}, ("key_file_content:", "got list")),
    "key-number": Case(lambda k, p: {"name": "bq", "key_file_content": 42}, ("key_file_content:", "got int")),
    "key-blank-text": Case(lambda k, p: {"name": "bq", "key_file_content": "  \n "}, ("key_file_content:", "empty")),
    "key-authorized-user": Case(
        lambda k, p: {
            "name": "bq",
            "project_id": "acme-crm-prod",
            "key_file_content": {**k, "type": "authorized_user"},
        },
        ("key_file_content:", "'authorized_user'", "basic auth"),
    ),
    "key-missing-client-email": Case(
        lambda k, p: {"name": "bq", "key_file_content": without(k, "client_email")},
        ("key_file_content:", "'client_email'"),
    ),
    "key-missing-private-key": Case(
        lambda k, p: {"name": "bq", "key_file_content": without(k, "private_key")},
        ("key_file_content:", "'private_key'"),
    ),
    "key-private-key-not-pem": Case(
        lambda k, p: {"name": "bq", "key_file_content": {**k, "private_key": private_key_body(k)}},
        ("key_file_content:", "not a PEM private key"),
    ),
    "key-private-key-damaged": Case(
        lambda k, p: {"name": "bq", "key_file_content": {**k, "private_key": DAMAGED_PEM}},
        ("key_file_content:", "google-auth cannot load"),
    ),
    "key-private-key-truncated": Case(
        lambda k, p: {"name": "bq", "key_file_content": truncated_pem(k)},
        ("key_file_content:", "google-auth cannot load"),
    ),
    "key-ec-private-key": Case(
        lambda k, p: {"name": "bq", "key_file_content": {**k, "private_key": other_pem(k, "ec")}},
        ("key_file_content:", "google-auth cannot load", "not an RSA key"),
    ),
    "key-public-key-instead": Case(
        lambda k, p: {"name": "bq", "key_file_content": {**k, "private_key": other_pem(k, "public")}},
        ("key_file_content:", "PKCS#8"),
    ),
    "key-pkcs1-rsa-private-key": Case(
        lambda k, p: {"name": "bq", "key_file_content": {**k, "private_key": other_pem(k, "pkcs1")}},
        ("key_file_content:", "PKCS#8", "-----BEGIN PRIVATE KEY-----"),
    ),
    "key-base64-of-non-json": Case(
        lambda k, p: {"name": "bq", "key_file_content": b64("this is not a key file")},
        ("key_file_content:", "Base64-decoded text is not valid JSON"),
    ),
    "key-base64-of-json-array": Case(
        lambda k, p: {"name": "bq", "key_file_content": b64(json.dumps([k]))}, ("key_file_content:", "JSON object")
    ),
    "key-invalid-base64": Case(
        lambda k, p: {"name": "bq", "key_file_content": "ZXlKMGVYQmw*not-base64!"},
        ("key_file_content:", "neither JSON nor Base64"),
    ),
    "key-base64-of-damaged-key": Case(
        lambda k, p: {"name": "bq", "key_file_content": b64({**k, "private_key": DAMAGED_PEM})},
        ("key_file_content:", "google-auth cannot load"),
    ),
    "dataset-project-prefixed": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "dataset_id": "acme-crm-prod.crm"},
        ("dataset_id:", "'project.dataset'", "'crm'"),
        cloud="aws",
    ),
    "dataset-bad-characters": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "dataset_id": "crm-data"},
        ("dataset_id:", "'crm-data'", "letters, digits and underscores"),
        cloud="aws",
    ),
    "large-results-project-prefixed": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "large_results_dataset_id": "acme-crm-prod:aep_staging"},
        ("large_results_dataset_id:", "'aep_staging'"),
    ),
    "large-results-bad-characters": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "large_results_dataset_id": "aep staging"},
        ("large_results_dataset_id:", "not a BigQuery dataset id"),
    ),
    "basic-missing-refresh-token": Case(
        lambda k, p: basic(google_refresh_token=None), ("google_refresh_token:", "missing or empty")
    ),
    "basic-missing-client-secret": Case(
        lambda k, p: basic(google_client_secret=None), ("google_client_secret:", "missing or empty")
    ),
    "basic-bad-client-id": Case(
        lambda k, p: basic(google_client_id="123456789012"), ("google_client_id:", ".apps.googleusercontent.com")
    ),
    "basic-missing-project": Case(lambda k, p: basic(project_id=None), ("project_id:", "required")),
    "basic-bad-project": Case(lambda k, p: basic(project_id="ACME"), ("project_id:", "'ACME'")),
    "aws-basic-auth": Case(lambda k, p: basic(dataset_id="crm"), ("auth_type:", "AWS", "service auth"), cloud="aws"),
    "aws-without-dataset": Case(
        lambda k, p: {"name": "bq", "key_file_content": k}, ("dataset_id:", "AWS"), cloud="aws"
    ),
    "aws-with-large-results": Case(
        lambda k, p: {
            "name": "bq",
            "key_file_content": k,
            "dataset_id": "crm",
            "large_results_dataset_id": "aep_staging",
        },
        ("large_results_dataset_id:", "AWS"),
        cloud="aws",
    ),
    "azure-with-dataset": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "dataset_id": "crm"}, ("dataset_id:", "only used by", "AWS")
    ),
    "gcp-conn-missing": Case(
        lambda k, p: {"name": "bq", "gcp_conn_id": "no_such_gcp_conn"},
        ("gcp_conn_id:", "'no_such_gcp_conn'", "not found"),
    ),
    "gcp-conn-without-key": Case(
        lambda k, p: {"name": "bq", "gcp_conn_id": "google_cloud_default"},
        ("gcp_conn_id 'google_cloud_default'", "neither 'keyfile_dict' nor 'key_path'"),
        gcp_extra={"project": "acme-crm-prod"},
    ),
    "gcp-conn-key-path-unreadable": Case(
        lambda k, p: {"name": "bq", "gcp_conn_id": "google_cloud_default"},
        ("gcp_conn_id 'google_cloud_default'", "cannot read key file", "missing-key.json"),
        gcp_extra={"key_path": "/nonexistent/dir/missing-key.json"},
    ),
    "gcp-conn-keyfile-dict-not-json": Case(
        lambda k, p: {"name": "bq", "gcp_conn_id": "google_cloud_default"},
        ("gcp_conn_id 'google_cloud_default' extra 'keyfile_dict'", "not valid JSON"),
        gcp_extra={"keyfile_dict": '{"type": "service_account",'},
    ),
    "gcp-conn-secret-manager": Case(
        lambda k, p: {"name": "bq", "gcp_conn_id": "google_cloud_default"},
        ("gcp_conn_id 'google_cloud_default'", "key_secret_name"),
        gcp_extra={"key_secret_name": "projects/acme/secrets/bq-key"},
    ),
    "gcp-conn-bad-project": Case(
        lambda k, p: {"name": "bq", "gcp_conn_id": "google_cloud_default"},
        ("project_id:", "'Acme_CRM'"),
        gcp_extra={"extra__google_cloud_platform__project": "Acme_CRM", "keyfile_dict": "__KEY__"},
    ),
    "if-exists-unknown": Case(
        lambda k, p: {"name": "bq", "key_file_content": k, "if_exists": "replace"}, ("if_exists:", "'replace'")
    ),
    "aep-connection-bad-org": Case(
        lambda k, p: {"name": "bq", "key_file_content": k}, ("org_id",), aep_extra={"org_id": "not-an-org"}
    ),
}


def construct_and_execute(kwargs: dict[str, Any]) -> None:
    run_execute(CreateBigQueryBaseConnectionOperator(task_id="create", **kwargs))


def secrets_of(key: dict) -> list[str]:
    pem_lines = [line for line in key["private_key"].splitlines() if "PRIVATE KEY" not in line]
    return [private_key_body(key), *pem_lines, GOOGLE_CLIENT_SECRET, GOOGLE_REFRESH_TOKEN, DAMAGED_PEM.splitlines()[1]]


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_fails_before_any_request(
    case: Case, aep, aws_aep, monkeypatch: pytest.MonkeyPatch, service_account_key: dict, tmp_path: Path
) -> None:
    emulator = aws_aep if case.cloud == "aws" else aep
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", emulator.airflow_connection_json(backoff_base=0.01, **case.aep_extra)
    )
    if case.gcp_extra is not None:
        extra = {k: (json.dumps(service_account_key) if v == "__KEY__" else v) for k, v in case.gcp_extra.items()}
        set_gcp_connection(monkeypatch, extra)
    kwargs = case.build(service_account_key, tmp_path)
    with pytest.raises(AepInputError) as info:
        construct_and_execute(kwargs)  # some arguments are refused by the constructor already
    message = str(info.value)
    for fragment in case.fragments:
        assert fragment in message, message
    for secret in secrets_of(service_account_key):
        assert secret not in message
    assert aep.journal == []
    assert aws_aep.journal == []


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 25


def test_every_argument_error_names_an_argument() -> None:
    """Each expected message starts with the argument (or connection) it is about."""
    prefixes = (
        "name:", "auth_type:", "key_file_content:", "project_id:", "dataset_id:", "large_results_dataset_id:",
        "google_client_id:", "google_client_secret:", "google_refresh_token:", "gcp_conn_id", "if_exists:", "org_id",
    )  # fmt: skip
    for case_id, case in CASES.items():
        assert case.fragments[0].startswith(prefixes), case_id
