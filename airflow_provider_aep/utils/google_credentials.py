"""Google credentials given to the BigQuery source: parse, check, mask and encode them.

google-auth is imported inside the functions: DAG files that import the operator stay light.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_aep._compat import mask_secret
from airflow_provider_aep.exceptions import AepInputError

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
BIGQUERY_SCOPES = (
    "https://www.googleapis.com/auth/bigquery",
    "https://www.googleapis.com/auth/cloud-platform",
)
GCP_EXTRA_PREFIX = "extra__google_cloud_platform__"
PKCS8_HEADER = "-----BEGIN PRIVATE KEY-----"


@dataclass(frozen=True)
class ServiceAccountKey:
    """A checked service-account key and the exact JSON text it came from."""

    info: dict[str, Any] = field(repr=False)
    json_text: str = field(repr=False)

    @property
    def project_id(self) -> str | None:
        return self.info.get("project_id")

    @property
    def client_email(self) -> str:
        return str(self.info["client_email"])

    def as_base64(self) -> str:
        """What Adobe expects in ``keyFileContent``: Base64 of the key file's JSON."""
        return base64.b64encode(self.json_text.encode("utf-8")).decode("ascii")


def parse_service_account_key(value: Any, field_name: str = "key_file_content") -> ServiceAccountKey:
    """Accept a dict, JSON text or Base64 of JSON; check it is a service-account key google-auth can load.

    Every form of the key is registered with the secrets masker before anything else happens.
    Messages never quote the key.
    """
    _mask_raw(value)
    if isinstance(value, dict):
        try:
            info, text = value, json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            raise AepInputError(
                f"{field_name}: the key dict holds values that are not JSON (the key file is plain JSON: "
                "text, numbers, nested objects)."
            ) from None
    elif isinstance(value, str | bytes):
        info, text = _decode_key_text(value, field_name)
    else:
        raise AepInputError(
            f"{field_name}: expected the service-account key as a dict, JSON text or Base64 of the JSON, "
            f"got {type(value).__name__}."
        )
    mask_key(info, text)
    _check_key_fields(info, field_name)
    _load_with_google_auth(info, field_name)
    return ServiceAccountKey(info=info, json_text=text)


def _mask_raw(value: Any) -> None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.strip():
        mask_secret(value)
        mask_secret(value.strip())


def mask_key(info: dict[str, Any], text: str) -> None:
    """Register the key in each form it could be printed in: JSON, Base64, the private key alone."""
    mask_secret(text)
    mask_secret(base64.b64encode(text.encode("utf-8")).decode("ascii"))
    compact = json.dumps(info, separators=(",", ":"))
    for form in (compact, json.dumps(info)):
        mask_secret(form)
        mask_secret(base64.b64encode(form.encode("utf-8")).decode("ascii"))
    private_key = info.get("private_key")
    if isinstance(private_key, str) and private_key:
        mask_secret(private_key)
        mask_secret(json.dumps(private_key)[1:-1])  # as it appears inside JSON text, newlines escaped
        for line in private_key.splitlines():
            if len(line) >= 16 and "PRIVATE KEY" not in line:
                mask_secret(line)
    if isinstance(info.get("private_key_id"), str):
        mask_secret(info["private_key_id"])


def _decode_key_text(value: str | bytes, field_name: str) -> tuple[dict[str, Any], str]:
    raw = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    # A key file saved by some editors starts with a UTF-8 byte order mark; it is not part of the JSON.
    text = raw.strip().lstrip("\ufeff").strip()
    if not text:
        raise AepInputError(f"{field_name}: the service-account key is empty.")
    if text[0] in '{["':  # JSON text (Base64 never starts with these): report JSON problems as such
        return _json_object(text, field_name, "JSON text"), text
    try:
        compact = "".join(text.split())
        decoded = base64.b64decode(
            compact + "=" * (-len(compact) % 4),
            altchars=b"-_" if "-" in compact or "_" in compact else None,
            validate=True,
        )
        decoded_text = decoded.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise AepInputError(
            f"{field_name}: the text is neither JSON nor Base64 of JSON; give the service-account key file's "
            "JSON (dict or text) or its Base64."
        ) from None
    mask_secret(decoded_text)
    decoded_text = decoded_text.strip().lstrip("\ufeff").strip()
    return _json_object(decoded_text, field_name, "Base64-decoded text"), decoded_text


def _json_object(text: str, field_name: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise AepInputError(f"{field_name}: the {what} is nested too deeply to be a key file.") from None
    except ValueError as err:
        raise AepInputError(
            f"{field_name}: the {what} is not valid JSON (line {getattr(err, 'lineno', '?')}, "
            f"column {getattr(err, 'colno', '?')}); give the service-account key file as downloaded."
        ) from None
    if not isinstance(data, dict):
        raise AepInputError(
            f"{field_name}: the {what} must be a JSON object (the key file), got {type(data).__name__}."
        )
    return data


def _check_key_fields(info: dict[str, Any], field_name: str) -> None:
    if info.get("type") != "service_account":
        kind = info.get("type")
        extra = " (that is an OAuth client or user credential; use basic auth for it)" if kind else ""
        raise AepInputError(
            f'{field_name}: expected a service-account key with "type": "service_account", got {kind!r}{extra}.'
        )
    for key in ("client_email", "private_key", "token_uri"):
        if not isinstance(info.get(key), str) or not info[key].strip():
            raise AepInputError(f"{field_name}: the service-account key has no {key!r}; download a new JSON key.")
    if "-----BEGIN" not in info["private_key"]:
        raise AepInputError(f"{field_name}: 'private_key' is not a PEM private key; download a new JSON key.")
    if not info["private_key"].startswith(PKCS8_HEADER):
        # Python's google-auth also loads PKCS#1 ("BEGIN RSA PRIVATE KEY"), but Adobe reads the key file as
        # Google issues it: a PKCS#8 key. Anything else fails at Adobe, after the request.
        raise AepInputError(
            f"{field_name}: 'private_key' must be the PKCS#8 PEM key Google puts in JSON key files (starting "
            f"with '{PKCS8_HEADER}'); download a new JSON key instead of converting or editing one."
        )


def _load_with_google_auth(info: dict[str, Any], field_name: str) -> None:
    """Let google-auth parse the key for real (PEM and RSA structure), without any network call."""
    from google.oauth2 import service_account

    try:
        credentials = service_account.Credentials.from_service_account_info(info, scopes=list(BIGQUERY_SCOPES))
        # google-auth loads any PEM private key (EC too) without complaint; Google only accepts RS256
        # assertions signed with an RSA key, so sign a probe the way a token request would.
        credentials.signer.sign(b"airflow-provider-aep key check")
    except Exception as err:  # ValueError, TypeError, UnsupportedAlgorithm...: never quote the key
        reason = type(err).__name__
        raise AepInputError(
            f"{field_name}: google-auth cannot load this service-account key ({reason}: the private key is "
            "damaged or not an RSA key); download a new JSON key."
        ) from None


def verify_service_account(key: ServiceAccountKey, token_uri: str | None = None) -> None:
    """Mint a Google access token with the key, so a bad key fails before Adobe sees it."""
    from google.oauth2 import service_account

    info = dict(key.info)
    if token_uri:
        info["token_uri"] = token_uri
    credentials = service_account.Credentials.from_service_account_info(info, scopes=list(BIGQUERY_SCOPES))
    _refresh(credentials, "key_file_content", f"service account {key.client_email}")


def verify_refresh_token(client_id: str, client_secret: str, refresh_token: str, token_uri: str | None = None) -> None:
    """Mint a Google access token from the OAuth client and refresh token."""
    from google.oauth2.credentials import Credentials

    credentials = Credentials(
        None,
        refresh_token=refresh_token,
        client_id=client_id,
        client_secret=client_secret,
        token_uri=token_uri or GOOGLE_TOKEN_URI,
        scopes=list(BIGQUERY_SCOPES),
    )
    _refresh(credentials, "google_refresh_token", f"OAuth client {client_id}")


def _refresh(credentials: Any, field_name: str, who: str) -> None:
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.RefreshError as err:
        reason = _google_reason(err).rstrip(". ")
        raise AepInputError(f"{field_name}: Google refused to issue a token for {who}: {reason}.") from None
    except google.auth.exceptions.TransportError as err:
        raise AepInputError(
            f"{field_name}: could not reach Google's token endpoint to check {who} ({type(err).__name__})."
        ) from None
    if credentials.token:
        mask_secret(credentials.token)


def _google_reason(err: Exception) -> str:
    """Google's error code and description from a RefreshError, never the request."""
    details = err.args[1] if len(err.args) > 1 else None
    if isinstance(details, dict):
        code = details.get("error", "error")
        description = details.get("error_description") or ""
        return f"{code} {description}".strip()
    text = str(err.args[0]) if err.args else type(err).__name__
    return text.split(":", 1)[0][:200]


@dataclass(frozen=True)
class GcpConnectionKey:
    """What an Airflow Google Cloud connection holds for the BigQuery source."""

    key: ServiceAccountKey
    project_id: str | None


def read_gcp_connection(conn: Any) -> GcpConnectionKey:
    """Read the key and project of an Airflow Google Cloud connection, without the Google provider."""
    where = f"gcp_conn_id '{conn.conn_id}'"
    extra = conn.extra_dejson or {}

    def get(name: str) -> Any:
        value = extra.get(name)
        if value in (None, ""):
            value = extra.get(f"{GCP_EXTRA_PREFIX}{name}")
        return None if value in (None, "") else value

    keyfile_dict = get("keyfile_dict")
    key_path = get("key_path")
    if keyfile_dict is not None:
        key = parse_service_account_key(keyfile_dict, f"{where} extra 'keyfile_dict'")
    elif key_path is not None:
        key = parse_service_account_key(_read_key_file(str(key_path), where), f"{where} key file {key_path!r}")
    elif get("key_secret_name"):
        raise AepInputError(f"{where}: keys in Secret Manager (key_secret_name) are not supported; use keyfile_dict.")
    else:
        raise AepInputError(
            f"{where}: the connection has neither 'keyfile_dict' nor 'key_path'; the BigQuery source needs "
            "a service-account key (Application Default Credentials cannot be sent to Adobe)."
        )
    project = get("project")
    return GcpConnectionKey(key=key, project_id=str(project) if project else None)


def _read_key_file(path: str, where: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as err:
        raise AepInputError(f"{where}: cannot read key file {path!r}: {err.strerror}.") from None
