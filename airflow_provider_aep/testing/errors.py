"""Adobe-shaped error bodies (Flow Service, API gateway, IMS) and the exception handlers raise."""

from __future__ import annotations

import uuid
from typing import Any

FLOW_ERROR_TYPE = "https://ns.adobe.com/aep/errors/FLOW-{code}"

_TITLES = {
    "1101-404": "Resource not found",
    "1102-500": "Internal server error",
    "1103-503": "Service unavailable",
    "1104-504": "Gateway timeout",
    "1106-415": "Unsupported media type",
    "1107-405": "Method not allowed",
    "1400-400": "Bad request",
    "1401-400": "Invalid query parameters",
    "1403-400": "Missing If-Match header",
    "1404-412": "Precondition failed",
    "1410-400": "Invalid field in request",
    "1415-400": "Invalid authentication specification",
    "1418-400": "Resource in use",
    "2002-401": "Unauthorized organization",
    "2100-404": "Sandbox not found",
    "2105-400": "Sandbox header missing",
    "2118-403": "Permission denied",
}


class ApiError(Exception):
    """An error response; ``render`` builds the body once the request id is known."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        *,
        flow_code: str | None = None,
        detail: str = "",
        title: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or (body or {}).get("message", "") or str(status))
        self.status = status
        self.body = body
        self.flow_code = flow_code
        self.detail = detail
        self.title = title
        self.field = field
        self.headers = headers or {}

    def render(self, request_id: str) -> dict[str, Any]:
        """The JSON body to send for this error."""
        if self.flow_code is None:
            return dict(self.body or {})
        return flow_body(self.flow_code, self.detail, request_id, title=self.title, field=self.field)


def flow_body(
    code: str, detail: str, request_id: str, *, title: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """A Flow Service error body, e.g. code ``1101-404``."""
    status = int(code.rsplit("-", 1)[1])
    details: dict[str, Any] = {"code": f"FLOW-{code}"}
    if field:
        details["field"] = field
    return {
        "type": FLOW_ERROR_TYPE.format(code=code),
        "title": title or _TITLES.get(code, "Error"),
        "status": status,
        "report": {
            "detailed-message": detail,
            "id": str(uuid.uuid4()),
            "request-id": request_id,
            "type": f"FLOW-{code}",
        },
        "errorMessage": detail,
        "errorDetails": details,
    }


def flow_error(code: str, detail: str, *, field: str | None = None, title: str | None = None) -> ApiError:
    """A Flow Service error such as ``flow_error("1101-404", "Connection not found")``."""
    return ApiError(int(code.rsplit("-", 1)[1]), flow_code=code, detail=detail, field=field, title=title)


def bad_request(detail: str, field: str | None = None) -> ApiError:
    """Generic validation failure (1400-400) naming the offending field."""
    return flow_error("1400-400", detail, field=field)


def gateway_error(status: int, error_code: str, message: str) -> ApiError:
    """An Adobe I/O gateway error, e.g. 401 ``401013``."""
    return ApiError(status, {"error_code": error_code, "message": message})


def ims_error(status: int, error: str, description: str) -> ApiError:
    """An IMS OAuth error body."""
    return ApiError(status, {"error": error, "error_description": description})


DEFAULT_FLOW_CODES = {500: "1102-500", 502: "1102-502", 503: "1103-503", 504: "1104-504"}


def default_fault_body(status: int, path: str, request_id: str) -> dict[str, Any]:
    """The body an injected fault answers with when the test gave none."""
    if status == 429:
        return {"error_code": "429050", "message": "Too many requests"}
    if path.startswith("/ims/"):
        if status >= 500:
            return {"error": "server_error", "error_description": f"IMS is unavailable ({status})"}
        return {"error": "invalid_request", "error_description": f"Injected IMS error ({status})"}
    if status == 401:
        return {"error_code": "401013", "message": "Oauth token is not valid"}
    if status >= 500:
        code = DEFAULT_FLOW_CODES.get(status, f"1102-{status}")
    elif status == 403:
        code = "2118-403"
    elif status == 404:
        code = "1101-404"
    else:
        code = f"1400-{status}"
    return flow_body(code, f"Injected fault: HTTP {status}", request_id)
