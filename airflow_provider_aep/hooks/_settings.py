"""Read and check the fields of an Adobe Experience Platform Airflow connection."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_aep._connection_form import (
    CLOUDS,
    DEFAULT_HOST,
    DEFAULT_IMS_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_SANDBOX,
    DEFAULT_SCOPES,
    DEFAULT_TIMEOUT,
)
from airflow_provider_aep.exceptions import AepInputError

CONN_TYPE = "adobe_experience_platform"
_ORG_RE = re.compile(r"^[A-Za-z0-9]+@AdobeOrg$")
_SANDBOX_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,255}$")


@dataclass(frozen=True)
class AepConnectionSettings:
    """Everything the hook needs from an Airflow connection, checked."""

    conn_id: str
    client_id: str
    client_secret: str = field(repr=False)
    org_id: str
    sandbox_name: str
    platform_url: str
    ims_url: str
    scopes: str
    cloud: str
    timeout: float
    max_retries: int
    backoff_base: float = 1.0
    retry_deadline: float = 300.0

    @property
    def flow_service_url(self) -> str:
        return f"{self.platform_url}/data/foundation/flowservice"

    @property
    def data_prep_url(self) -> str:
        return f"{self.platform_url}/data/foundation/conversion"

    @property
    def token_url(self) -> str:
        return f"{self.ims_url}/ims/token/v3"

    def platform_headers(self, token: str) -> dict[str, str]:
        """The headers every Platform API call carries."""
        return {
            "Authorization": f"Bearer {token}",
            "x-api-key": self.client_id,
            "x-gw-ims-org-id": self.org_id,
            "x-sandbox-name": self.sandbox_name,
            "Accept": "application/json",
        }

    @classmethod
    def from_connection(cls, conn: Any) -> AepConnectionSettings:
        """Build settings from an Airflow ``Connection``; raise ``AepInputError`` naming a bad field."""
        conn_id = getattr(conn, "conn_id", None) or "?"
        where = f"Airflow connection '{conn_id}'"
        extra = _extras(conn)

        def opt(name: str) -> Any:
            value = extra.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                value = extra.get(f"extra__{CONN_TYPE}__{name}")
            if isinstance(value, str):
                value = value.strip()
            return None if value in (None, "") else value

        client_id = (conn.login or "").strip()
        if not client_id:
            raise AepInputError(f"{where}: 'Client ID' (login) is empty; set the OAuth Server-to-Server client ID.")
        client_secret = conn.password or ""
        if not client_secret.strip():
            raise AepInputError(f"{where}: 'Client secret' (password) is empty; set the credential's client secret.")
        org_id = opt("org_id")
        if org_id is None:
            raise AepInputError(f"{where}: extra 'org_id' (IMS org ID) is required, e.g. 0123ABCD@AdobeOrg.")
        if not isinstance(org_id, str) or not _ORG_RE.match(org_id):
            raise AepInputError(f"{where}: extra 'org_id' must look like 0123ABCD@AdobeOrg, got {org_id!r}.")
        sandbox = opt("sandbox_name") or DEFAULT_SANDBOX
        if not isinstance(sandbox, str) or not _SANDBOX_RE.match(sandbox):
            raise AepInputError(
                f"{where}: extra 'sandbox_name' must be a lower-case sandbox name "
                f"(letters, digits, hyphens), got {sandbox!r}."
            )
        cloud = str(opt("cloud") or "azure").lower()
        if cloud not in CLOUDS:
            raise AepInputError(f"{where}: extra 'cloud' must be 'azure' or 'aws', got {cloud!r}.")
        scopes = opt("scopes") or DEFAULT_SCOPES
        if isinstance(scopes, list | tuple):
            scopes = ",".join(str(s) for s in scopes)
        scopes = ",".join(s.strip() for s in str(scopes).split(",") if s.strip())
        if not scopes:
            raise AepInputError(f"{where}: extra 'scopes' is empty; use {DEFAULT_SCOPES!r}.")
        return cls(
            conn_id=conn_id,
            client_id=client_id,
            client_secret=client_secret,
            org_id=org_id,
            sandbox_name=sandbox,
            platform_url=_base_url(conn.host, getattr(conn, "port", None), "host", where, DEFAULT_HOST),
            ims_url=_base_url(opt("ims_url"), None, "ims_url", where, DEFAULT_IMS_URL),
            scopes=scopes,
            cloud=cloud,
            timeout=_number(opt("timeout"), DEFAULT_TIMEOUT, "timeout", where, float),
            max_retries=int(_number(opt("max_retries"), DEFAULT_MAX_RETRIES, "max_retries", where, int)),
            backoff_base=_number(opt("backoff_base"), 1.0, "backoff_base", where, float),
            retry_deadline=_number(opt("retry_deadline"), 300.0, "retry_deadline", where, float),
        )


def _extras(conn: Any) -> dict[str, Any]:
    extra = getattr(conn, "extra_dejson", None)
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise AepInputError("Airflow connection extra must be a JSON object.")
    return extra


def _base_url(value: Any, port: Any, name: str, where: str, default: str) -> str:
    """Accept a full URL or a bare host (https assumed); honour an explicit port.

    Plain http is refused except on loopback (the local emulator): the bearer token, and for
    ``ims_url`` the client secret, would cross the network in clear text.
    """
    text = str(value).strip() if value else default
    shown = _without_userinfo(text)  # what an error may quote: never a password written into the URL
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
        url_port = parts.port
    except ValueError:
        raise AepInputError(f"{where}: {name!r} is not a valid URL (host or port): {shown!r}.") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise AepInputError(f"{where}: {name!r} must be an http(s) URL or a host name, got {shown!r}.")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AepInputError(f"{where}: {name!r} must not carry credentials, a query or a fragment.")
    if parts.scheme == "http" and not _is_loopback(hostname):
        raise AepInputError(
            f"{where}: {name!r} must use https (plain http is accepted only for localhost), got {shown!r}."
        )
    netloc = hostname if ":" not in hostname else f"[{hostname}]"
    if port and url_port and str(port).strip() != str(url_port):
        raise AepInputError(
            f"{where}: {name!r} names port {url_port} but the port field says {port!r}; keep one of them."
        )
    chosen_port = port or url_port
    if chosen_port:
        try:
            chosen_port = int(chosen_port)
        except (TypeError, ValueError, OverflowError):
            raise AepInputError(f"{where}: port must be a number, got {port!r}.") from None
        if not 0 < chosen_port < 65536:
            raise AepInputError(f"{where}: port must be between 1 and 65535, got {port!r}.")
        netloc = f"{netloc}:{chosen_port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _without_userinfo(text: str) -> str:
    """The URL with any ``user:password@`` replaced, for error messages."""
    return re.sub(r"^([^/]*//)?[^/@]*@", lambda m: f"{m.group(1) or ''}***@", text, count=1)


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _number(value: Any, default: float, name: str, where: str, kind: type) -> Any:
    if value is None:
        return default
    try:
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise AepInputError(f"{where}: extra {name!r} must be a {kind.__name__}, got {value!r}.") from None
    if not math.isfinite(number):
        raise AepInputError(f"{where}: extra {name!r} must be a finite number, got {value!r}.")
    if number < 0 or (name == "timeout" and number == 0):
        raise AepInputError(f"{where}: extra {name!r} must be positive, got {value!r}.")
    return number
