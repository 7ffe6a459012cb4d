"""Async access to Flow Service for triggers: one shared httpx client per event loop, no sync I/O."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, Any

from airflow_provider_aep import __version__
from airflow_provider_aep._compat import aget_connection, amask_secret
from airflow_provider_aep.exceptions import AdobeApiError
from airflow_provider_aep.hooks._errors import platform_error
from airflow_provider_aep.hooks._ims import (
    IMS_TOKEN_PATH,
    ims_error,
    may_retry_token_request,
    parse_token,
    token_form,
    unreachable,
)
from airflow_provider_aep.hooks._retry import RetryBudget, may_resend, parse_retry_after
from airflow_provider_aep.hooks._settings import AepConnectionSettings
from airflow_provider_aep.hooks._tokens import TOKEN_CACHE, TokenKey
from airflow_provider_aep.utils.ids import check_filter_id, path_id

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

# At most this many requests in flight per event loop: the pool's size. Without the gate, a burst
# of triggers (after a triggerer restart) queues in httpx's pool, which rescans its whole queue on
# every step: CPU per poll then grows with the number of triggers.
MAX_CONCURRENT_REQUESTS = 64
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
# Per event loop: the triggerer's one loop shares a read among its triggers, while each new loop
# (``dag.test()`` runs every deferral in its own) reads the connection afresh, as tasks do.
_settings_cache: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[float, AepConnectionSettings]]
] = weakref.WeakKeyDictionary()
SETTINGS_TTL_SECONDS = 60.0


def shared_client() -> httpx.AsyncClient:
    """The process's pooled client for the running event loop (a triggerer runs one loop)."""
    import httpx

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            verify=True,
            limits=httpx.Limits(max_connections=MAX_CONCURRENT_REQUESTS, max_keepalive_connections=32),
            headers={"User-Agent": f"airflow-provider-aep/{__version__} httpx/{httpx.__version__}"},
        )
        _clients[loop] = client
    return client


def request_slots() -> asyncio.Semaphore:
    """The gate that keeps this event loop's requests within the pool's size."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)
    return slots


async def close_shared_clients() -> None:
    """Close the client of this event loop (tests and benchmarks)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _log_retry(method: str, path: str, reason: str, budget: RetryBudget, wait: float) -> None:
    log.warning(
        "Adobe API %s %s: %s; retry %d of %d in %.1f s", method, path, reason, budget.retries, budget.max_retries, wait
    )


def _json_body(resp: httpx.Response, path: str) -> Any:
    """The decoded body of a successful answer; a readable error when it is not JSON (a proxy page)."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise AdobeApiError(
            status=resp.status_code,
            method="GET",
            path=path,
            title="the response was not JSON",
            detail=" ".join(resp.text.split())[:120],
            request_id=resp.headers.get("x-request-id"),
        ) from None


class _WithExtras:
    """A connection whose extras were decoded (and masked) asynchronously."""

    def __init__(self, conn: Any, extra_dejson: dict[str, Any]) -> None:
        self._conn = conn
        self.extra_dejson = extra_dejson

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class AdobeExperiencePlatformAsyncHook:
    """The GET calls a trigger needs, with the same token cache and retry rules as the sync hook.

    :param aep_conn_id: Airflow connection holding the Adobe credential.
    """

    def __init__(self, aep_conn_id: str = "aep_default") -> None:
        self.aep_conn_id = aep_conn_id

    async def get_settings(self) -> AepConnectionSettings:
        """Connection fields, read asynchronously and shared by the triggers of this process for a minute."""
        loop = asyncio.get_running_loop()
        per_loop = _settings_cache.setdefault(loop, {})
        cached = per_loop.get(self.aep_conn_id)
        if cached is not None and loop.time() - cached[0] < SETTINGS_TTL_SECONDS:
            return cached[1]
        conn = await aget_connection(self.aep_conn_id)
        if conn.password:
            await amask_secret(conn.password)
        aextra_dejson = getattr(conn, "aextra_dejson", None)
        if aextra_dejson is not None:  # Airflow 3: ``extra_dejson`` would mask the extras synchronously
            conn = _WithExtras(conn, await aextra_dejson())
        settings = AepConnectionSettings.from_connection(conn)
        per_loop[self.aep_conn_id] = (loop.time(), settings)
        return settings

    async def get_access_token(self, settings: AepConnectionSettings) -> str:
        key = TokenKey.of(settings.ims_url, settings.client_id, settings.client_secret, settings.scopes)
        return await TOKEN_CACHE.aget(key, lambda: self._fetch_token(settings))

    async def _fetch_token(self, settings: AepConnectionSettings) -> tuple[str, float]:
        import httpx

        budget = RetryBudget(settings.max_retries, settings.retry_deadline, settings.backoff_base)
        while True:
            try:
                async with request_slots():
                    resp = await shared_client().post(
                        settings.token_url, data=token_form(settings), timeout=settings.timeout
                    )
            except httpx.TransportError as exc:
                wait = budget.next_wait()
                if wait is None:
                    raise unreachable(settings.ims_url, type(exc).__name__) from None
                _log_retry("POST", IMS_TOKEN_PATH, type(exc).__name__, budget, wait)
                await asyncio.sleep(wait)
                continue
            if resp.status_code == 200:
                return parse_token(resp.status_code, resp.content)
            if may_retry_token_request(resp.status_code):
                wait = budget.next_wait(parse_retry_after(resp.headers.get("Retry-After")))
                if wait is not None:
                    _log_retry("POST", IMS_TOKEN_PATH, f"HTTP {resp.status_code}", budget, wait)
                    await asyncio.sleep(wait)
                    continue
            raise ims_error(resp.status_code, resp.headers, resp.content)

    async def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET a Flow Service path; retries 429 (``Retry-After``), 5xx and network errors; renews on 401."""
        import httpx

        settings = await self.get_settings()
        key = TokenKey.of(settings.ims_url, settings.client_id, settings.client_secret, settings.scopes)
        budget = RetryBudget(settings.max_retries, settings.retry_deadline, settings.backoff_base)
        renewed = False
        while True:
            token = await self.get_access_token(settings)
            headers = settings.platform_headers(token)
            try:
                async with request_slots():
                    resp = await shared_client().get(
                        f"{settings.flow_service_url}{path}", params=params, headers=headers, timeout=settings.timeout
                    )
            except httpx.TransportError as exc:
                wait = budget.next_wait()
                if wait is None:
                    raise AdobeApiError(status=None, method="GET", path=path, title=type(exc).__name__) from None
                _log_retry("GET", path, type(exc).__name__, budget, wait)
                await asyncio.sleep(wait)
                continue
            status = resp.status_code
            if status < 400:
                return _json_body(resp, path)
            if status == 401 and not renewed:
                log.info("Adobe rejected the access token (HTTP 401); renewing it and retrying once.")
                TOKEN_CACHE.invalidate(key, token)
                renewed = True
                continue
            if may_resend("GET", status, sent=True):
                wait = budget.next_wait(parse_retry_after(resp.headers.get("Retry-After")))
                if wait is not None:
                    _log_retry("GET", path, f"HTTP {status}", budget, wait)
                    await asyncio.sleep(wait)
                    continue
            raise platform_error(
                status=status, method="GET", path=path, headers=resp.headers, body=resp.content, retries=budget.retries
            )

    async def get_run(self, run_id: str) -> dict[str, Any]:
        from airflow_provider_aep.hooks.aep import _first_item

        return _first_item(await self.get(f"/runs/{path_id(run_id, 'run_id')}"))

    async def get_flow(self, flow_id: str) -> dict[str, Any]:
        """``GET /flows/{id}``; raises :class:`AdobeApiError` (404) when the flow was deleted."""
        from airflow_provider_aep.hooks.aep import _first_item

        return _first_item(await self.get(f"/flows/{path_id(flow_id, 'flow_id')}"))

    async def get_latest_run(self, flow_id: str) -> dict[str, Any] | None:
        """The newest run of a flow, or None; ``AepInputError`` for an id that would change the filter."""
        flow_id = check_filter_id(flow_id, "flow_id")
        data = await self.get("/runs", params={"property": f"flowId=={flow_id}", "orderby": "-createdAt", "limit": "1"})
        items = (data or {}).get("items") or []
        return items[0] if items else None
