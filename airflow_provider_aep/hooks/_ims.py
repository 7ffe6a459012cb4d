"""Adobe IMS token requests and answers, shared by the sync hook and the async (trigger) hook."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AdobeApiError

if TYPE_CHECKING:
    from airflow_provider_aep.hooks._settings import AepConnectionSettings

IMS_TOKEN_PATH = "/ims/token/v3"
IMS_HINTS = {
    "invalid_client": "Check the Client ID (login) and Client secret (password) of the Airflow connection.",
    "unauthorized_client": (
        "The credential may not use OAuth Server-to-Server: check that its Developer Console project "
        "has the Experience Platform API with an OAuth Server-to-Server credential."
    ),
    "invalid_scope": "Check the 'scopes' extra against the credential's scopes in the Developer Console.",
    "unsupported_grant_type": "The IMS URL may not be Adobe IMS: check the 'ims_url' extra.",
}


def token_form(settings: AepConnectionSettings) -> dict[str, str]:
    """The form body of an OAuth Server-to-Server (client credentials) token request."""
    return {
        "grant_type": "client_credentials",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "scope": settings.scopes,
    }


def may_retry_token_request(status: int) -> bool:
    """IMS throttled or failed on its side: asking again is safe (a token request changes nothing)."""
    return status == 429 or status >= 500


def parse_token(status: int, body: bytes) -> tuple[str, float]:
    """``(access_token, expires_in seconds)`` from a 200 answer; the token cache masks the token."""
    try:
        data = json.loads(body)
        token = data["access_token"]
        expires_in = float(data.get("expires_in", 3600))
        if not isinstance(token, str) or not token:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise AdobeApiError(
            status=status,
            method="POST",
            path=IMS_TOKEN_PATH,
            title="Adobe IMS answered without an access token",
            hint="Check the 'ims_url' extra.",
        ) from None
    return token, expires_in


def ims_error(status: int, headers: Any, body: bytes) -> AdobeApiError:
    """A refused token request, saying which credential field to check."""
    parsed = AdobeApiError.from_response(status=status, method="POST", path=IMS_TOKEN_PATH, headers=headers, body=body)
    return AdobeApiError(
        status=parsed.status,
        method=parsed.method,
        path=parsed.path,
        code=parsed.code,
        title=f"Adobe IMS refused the credential ({parsed.title or 'no reason given'})",
        request_id=parsed.request_id,
        hint=IMS_HINTS.get(parsed.code or "")
        or (
            "Adobe IMS failed on its side; the retries ran out (max_retries, retry_deadline): try again later."
            if status >= 500 or status == 429
            else "Check the credential fields of the Airflow connection."
        ),
    )


def unreachable(ims_url: str, reason: str) -> AdobeApiError:
    return AdobeApiError(
        status=None,
        method="POST",
        path=IMS_TOKEN_PATH,
        title=f"could not reach Adobe IMS at {ims_url} ({reason})",
        hint="Check the 'ims_url' extra and the network path to Adobe IMS.",
    )
