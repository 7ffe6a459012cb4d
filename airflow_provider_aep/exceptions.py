"""Exceptions raised by the provider."""

from __future__ import annotations

import json
from typing import Any

from airflow.exceptions import AirflowException

_MAX_DETAIL = 600


class AepInputError(AirflowException, ValueError):
    """Invalid user input, raised before any request is sent. The message names the field."""


class AdobeApiError(AirflowException):
    """An Adobe IMS, Flow Service or Data Prep call that failed.

    :param status: HTTP status, or ``None`` when no response arrived.
    :param code: Adobe error code, e.g. ``FLOW-1101-404``, ``401013`` or ``invalid_client``.
    :param title: Adobe's short title or message.
    :param detail: Adobe's detailed message, when it gave one.
    :param request_id: Adobe's ``x-request-id``, to quote to Adobe support.
    :param method: HTTP method of the failed call.
    :param path: path of the failed call, without query string.
    :param ambiguous: True when the request may have taken effect although it failed
        (timeout, dropped connection or 5xx on a create): look before sending it again.
    :param hint: what the user should check, in plain words.
    """

    def __init__(
        self,
        *,
        status: int | None,
        method: str,
        path: str,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        ambiguous: bool = False,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.code = code
        self.title = title
        self.detail = detail
        self.request_id = request_id
        self.ambiguous = ambiguous
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        parts = [f"Adobe API call {self.method} {self.path} failed: {what}"]
        if self.code:
            parts.append(f"[{self.code}]")
        text = " ".join(parts)
        reason = "; ".join(p for p in (self.title, self.detail) if p)
        if reason:
            text += f": {reason}"
        if self.request_id:
            text += f" (request-id {self.request_id})"
        notes = [n for n in ("The request may have taken effect." if self.ambiguous else None, self.hint) if n]
        if notes:
            text += ". " + " ".join(notes)
        return _redact(text)

    @classmethod
    def from_response(
        cls,
        *,
        status: int,
        method: str,
        path: str,
        headers: Any,
        body: bytes | str | None,
        ambiguous: bool = False,
        hint: str | None = None,
    ) -> AdobeApiError:
        """Build the error from an HTTP answer, whatever its body: Adobe JSON, HTML or empty."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        code, title, detail, body_request_id = _parse_error_body(text, headers)
        request_id = body_request_id or (headers.get("x-request-id") if headers is not None else None)
        return cls(
            status=status,
            method=method,
            path=path,
            code=code,
            title=title,
            detail=detail,
            request_id=request_id,
            ambiguous=ambiguous,
            hint=hint,
        )


def _parse_error_body(text: str, headers: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """Return (code, title, detail, request id) from any error body Adobe or a proxy may send."""
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        content_type = (headers.get("content-type") if headers is not None else None) or "no content type"
        snippet = " ".join(text.split())[:120]
        if not text.strip():
            return None, "empty response body", None, None
        return None, f"unexpected {content_type.split(';')[0]} response", snippet or None, None
    code = data.get("error_code") or data.get("error") or data.get("code")
    type_url = data.get("type")
    if not code and isinstance(type_url, str) and "/" in type_url:
        code = type_url.rstrip("/").rsplit("/", 1)[-1]
    report: dict[str, Any] = data["report"] if isinstance(data.get("report"), dict) else {}
    title = data.get("title") or data.get("message") or data.get("error_description")
    detail = report.get("detailed-message") or data.get("errorMessage") or data.get("detail")
    if detail == title:
        detail = None
    request_id = report.get("request-id") or data.get("request_id")
    return (
        str(code) if code else None,
        _clip(title),
        _clip(detail),
        str(request_id) if request_id else None,
    )


def _clip(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _redact(text: str) -> str:
    """Pass a message through Airflow's secrets masker, so registered secrets never show."""
    try:
        from airflow_provider_aep._compat import redact

        return str(redact(text))
    except Exception:  # the masker is a safety net; never fail while reporting a failure
        return text
