"""The error a failed Platform answer becomes, with a hint of what to check. Shared by both hooks."""

from __future__ import annotations

from typing import Any

from airflow_provider_aep.exceptions import AdobeApiError

STATUS_HINTS = {
    401: "Check the IMS org ID (org_id) and that the credential belongs to that org.",
    403: "The credential lacks a permission or product (the BigQuery source needs Real-Time CDP Ultimate).",
    404: "Check the id, and the sandbox (sandbox_name) it lives in.",
    412: "The resource changed since it was read (stale etag): read it again and retry.",
    429: "Adobe kept throttling the requests; run fewer tasks at once or raise max_retries.",
}
# The gateway refused a token IMS had just issued: the two URLs point at different Adobe environments.
TOKEN_REJECTED_HINT = (
    "Adobe's gateway refused a freshly issued token: check that ims_url and host belong to the same "
    "environment (production or stage)."
)


def platform_error(
    *, status: int, method: str, path: str, headers: Any, body: bytes, retries: int, ambiguous: bool = False
) -> AdobeApiError:
    """The error for a Platform answer that is final (after ``retries`` retries), with its hint."""
    answer: dict[str, Any] = {
        "status": status,
        "method": method,
        "path": path,
        "headers": headers,
        "body": body,
        "ambiguous": ambiguous,
    }
    hint = STATUS_HINTS.get(status)
    if status == 429:
        hint = f"Gave up after {retries} retries. {hint}"
    elif status == 401 and AdobeApiError.from_response(**answer).code == "401013":
        hint = TOKEN_REJECTED_HINT
    return AdobeApiError.from_response(**answer, hint=hint)
