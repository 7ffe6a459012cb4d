"""Hook for Adobe Experience Platform: IMS tokens and Flow Service / Data Prep calls."""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_aep import __version__
from airflow_provider_aep._compat import BaseHook, mask_secret
from airflow_provider_aep._connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_aep.exceptions import AdobeApiError, AepInputError
from airflow_provider_aep.hooks._errors import platform_error
from airflow_provider_aep.hooks._ims import (
    IMS_TOKEN_PATH,
    ims_error,
    may_retry_token_request,
    parse_token,
    token_form,
    unreachable,
)
from airflow_provider_aep.hooks._retry import (
    IDEMPOTENT_METHODS,
    RetryBudget,
    is_ambiguous,
    may_resend,
    parse_retry_after,
)
from airflow_provider_aep.hooks._settings import CONN_TYPE, AepConnectionSettings
from airflow_provider_aep.hooks._tokens import TOKEN_CACHE, TokenKey
from airflow_provider_aep.utils.ids import check_filter_id, path_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import requests

FLOW_SERVICE = "flowservice"
DATA_PREP = "conversion"
SERVICE_PATHS = {FLOW_SERVICE: "/data/foundation/flowservice", DATA_PREP: "/data/foundation/conversion"}

MAPPING_SET_PAGE_SIZE = 50
MAPPING_SET_PAGES = 200  # 10,000 mapping sets sharing a name fragment: past that, stop reading

_flow_specs: dict[tuple[str, str], dict[str, Any]] = {}


class AdobeExperiencePlatformHook(BaseHook):
    """Talk to Adobe Experience Platform with an OAuth Server-to-Server credential.

    :param aep_conn_id: Airflow connection holding the Adobe credential.
    """

    conn_type = CONN_TYPE
    conn_name_attr = "aep_conn_id"
    default_conn_name = "aep_default"
    hook_name = "Adobe Experience Platform"

    def __init__(self, aep_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aep_conn_id = aep_conn_id

    # ----------------------------------------------------------------- connection form (Airflow 2)
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the Airflow 2 connection form (Airflow 3 reads provider info instead)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import Optional

        placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
        return {
            name: StringField(
                lazy_gettext(spec["label"]),
                widget=BS3TextFieldWidget(),
                validators=[Optional()],
                description=spec.get("description", ""),
                default=placeholders.get(name) if name == "sandbox_name" else None,
            )
            for name, spec in CONN_FIELDS.items()
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the Airflow 2 connection form."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    # ----------------------------------------------------------------- settings, session, token
    @cached_property
    def settings(self) -> AepConnectionSettings:
        """The checked connection fields."""
        conn = self.get_connection(self.aep_conn_id)
        if conn.password:
            mask_secret(conn.password)
        return AepConnectionSettings.from_connection(conn)

    @cached_property
    def session(self) -> requests.Session:
        """One pooled HTTP session per hook, TLS verification always on."""
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.verify = True
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = (
            f"airflow-provider-aep/{__version__} apache-airflow/{_airflow_version()} "
            f"python-requests/{requests.__version__}"
        )
        return session

    @property
    def token_key(self) -> TokenKey:
        s = self.settings
        return TokenKey.of(s.ims_url, s.client_id, s.client_secret, s.scopes)

    def get_access_token(self) -> str:
        """A valid IMS access token, from the process-wide cache when it has one."""
        return TOKEN_CACHE.get(self.token_key, self._fetch_token)

    def _fetch_token(self) -> tuple[str, float]:
        import requests

        s = self.settings
        budget = RetryBudget(s.max_retries, s.retry_deadline, s.backoff_base)
        while True:
            try:
                resp = self.session.post(s.token_url, data=token_form(s), timeout=s.timeout)
            except requests.exceptions.SSLError as exc:
                raise _tls_error("POST", IMS_TOKEN_PATH, s.ims_url, exc) from None
            except requests.exceptions.RequestException as exc:
                wait = budget.next_wait()
                if wait is None:
                    raise unreachable(s.ims_url, _network_reason(exc, s.timeout)) from None
                self._log_retry("POST", IMS_TOKEN_PATH, _network_reason(exc, s.timeout), budget, wait)
                time.sleep(wait)
                continue
            if resp.status_code == 200:
                return parse_token(resp.status_code, resp.content)
            if may_retry_token_request(resp.status_code):
                wait = budget.next_wait(parse_retry_after(resp.headers.get("Retry-After")))
                if wait is not None:
                    self._log_retry("POST", IMS_TOKEN_PATH, f"HTTP {resp.status_code}", budget, wait)
                    time.sleep(wait)
                    continue
            raise ims_error(resp.status_code, resp.headers, resp.content)

    # ----------------------------------------------------------------- HTTP
    def request(
        self,
        method: str,
        path: str,
        *,
        service: str = FLOW_SERVICE,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Call Flow Service or Data Prep and return the decoded JSON body (``None`` when empty)."""
        resp = self.send(method, path, service=service, params=params, json=json, headers=headers)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise AdobeApiError(
                status=resp.status_code,
                method=method,
                path=path,
                title="the response was not JSON",
                detail=" ".join(resp.text.split())[:120],
                request_id=resp.headers.get("x-request-id"),
                # a create or update that succeeded (2xx) with an unreadable answer did take effect
                ambiguous=method.upper() not in IDEMPOTENT_METHODS,
            ) from None

    def send(
        self,
        method: str,
        path: str,
        *,
        service: str = FLOW_SERVICE,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one API call with Adobe's headers, retrying only where that is safe.

        429 (after ``Retry-After``), 5xx and network errors are retried for GET and DELETE; a POST
        or PATCH is re-sent only when it provably did not take effect (429, or no connection).
        A 401 renews the token once. Anything else raises :class:`AdobeApiError` at once.
        """
        import requests

        method = method.upper()
        s = self.settings
        url = f"{s.platform_url}{SERVICE_PATHS[service]}{path}"
        budget = RetryBudget(s.max_retries, s.retry_deadline, s.backoff_base)
        renewed = False
        while True:
            token = self.get_access_token()
            all_headers = s.platform_headers(token)
            if json is not None:
                all_headers["Content-Type"] = "application/json"
            all_headers.update(headers or {})
            try:
                resp = self.session.request(
                    method, url, params=params, json=json, headers=all_headers, timeout=s.timeout
                )
            except requests.exceptions.SSLError as exc:
                raise _tls_error(method, path, s.platform_url, exc) from None
            except requests.exceptions.RequestException as exc:
                sent = not _failed_before_sending(exc)
                reason = _network_reason(exc, s.timeout)
                wait = budget.next_wait() if may_resend(method, None, sent=sent) else None
                if wait is not None:
                    self._log_retry(method, path, reason, budget, wait)
                    time.sleep(wait)
                    continue
                raise AdobeApiError(
                    status=None,
                    method=method,
                    path=path,
                    title=reason,
                    ambiguous=is_ambiguous(method, None, sent=sent),
                ) from None
            status = resp.status_code
            if status < 400:
                return resp
            if status == 401 and not renewed:
                self.log.info("Adobe rejected the access token (HTTP 401); renewing it and retrying once.")
                TOKEN_CACHE.invalidate(self.token_key, token)
                renewed = True
                continue
            if may_resend(method, status, sent=True):
                wait = budget.next_wait(parse_retry_after(resp.headers.get("Retry-After")))
                if wait is not None:
                    code = AdobeApiError.from_response(
                        status=status, method=method, path=path, headers=resp.headers, body=resp.content
                    ).code
                    self._log_retry(method, path, f"HTTP {status} {code or ''}".strip(), budget, wait)
                    time.sleep(wait)
                    continue
            raise platform_error(
                status=status,
                method=method,
                path=path,
                headers=resp.headers,
                body=resp.content,
                retries=budget.retries,
                ambiguous=is_ambiguous(method, status, sent=True),
            )

    def _log_retry(self, method: str, path: str, reason: str, budget: RetryBudget, wait: float) -> None:
        self.log.warning(
            "Adobe API %s %s: %s; retry %d of %d in %.1f s",
            method,
            path,
            reason,
            budget.retries,
            budget.max_retries,
            wait,
        )

    def paginate(
        self,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        service: str = FLOW_SERVICE,
    ) -> Iterator[dict[str, Any]]:
        """Yield the items of a list call page by page, following ``_links.next``, lazily.

        ``params`` may be a list of pairs, to repeat a key (``property`` filters are ANDed).
        """
        next_path: str | None = path
        next_params: Any = list(params.items()) if isinstance(params, dict) else list(params or [])
        seen: set[str] = set()
        while next_path is not None:
            data = self.request("GET", next_path, service=service, params=next_params)
            if isinstance(data, list):
                yield from data
                return
            yield from (data or {}).get("items") or []
            href = (((data or {}).get("_links") or {}).get("next") or {}).get("href")
            if not href or href in seen:
                return
            seen.add(href)
            next_path, next_params = self._next_page(href, service)

    def _next_page(self, href: str, service: str) -> tuple[str, list[tuple[str, str]]]:
        """Turn a ``_links.next.href`` into a path under the service; never follow it to another host."""
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            platform = urlsplit(self.settings.platform_url)
            if (parts.scheme, parts.netloc) != (platform.scheme, platform.netloc):
                raise AdobeApiError(
                    status=None,
                    method="GET",
                    path=parts.path,
                    title="the next-page link points to another host; refusing to send the token there",
                )
        path = parts.path
        prefix = urlsplit(self.settings.platform_url).path + SERVICE_PATHS[service]
        if path.startswith(prefix):
            path = path[len(prefix) :]
        return path, parse_qsl(parts.query, keep_blank_values=True)

    # ----------------------------------------------------------------- generic resources
    def _create(self, collection: str, body: dict[str, Any], service: str = FLOW_SERVICE) -> dict[str, Any]:
        return self.request("POST", f"/{collection}", service=service, json=body) or {}

    def _get(
        self, collection: str, resource_id: str, service: str = FLOW_SERVICE, field: str = "resource_id"
    ) -> dict[str, Any]:
        data = self.request("GET", f"/{collection}/{path_id(resource_id, field)}", service=service)
        return _first_item(data)

    def _find(self, collection: str, *, name: str | None = None, **properties: str) -> list[dict[str, Any]]:
        """List resources whose properties match; ``name`` is matched exactly, client-side too."""
        filters = [f"{key}=={value}" for key, value in properties.items()]
        if name is not None and not any(c in name for c in ',"'):
            filters.append(f"name=={name}")
        params = [("property", f) for f in filters]
        return [
            item
            for item in self.paginate(f"/{collection}", params=params)  # type: ignore[arg-type]
            if name is None or item.get("name") == name
        ]

    def _delete(self, collection: str, resource_id: str, *, missing_ok: bool = False) -> bool:
        """Delete a resource; with ``missing_ok`` a resource already gone counts as deleted."""
        try:
            self.request("DELETE", f"/{collection}/{path_id(resource_id)}")
        except AdobeApiError as err:
            if missing_ok and err.status == 404:
                return False
            raise
        return True

    def create_once(
        self,
        *,
        kind: str,
        name: str,
        create: Callable[[], dict[str, Any]],
        find: Callable[[], dict[str, Any] | None],
        look_first: bool = True,
        discard: Callable[[str], Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create a resource unless one of that name exists; never create it twice.

        After an ambiguous failure (timeout, dropped connection, 5xx) look the name up, wait, and look
        again right before sending the create again. When a resent create succeeds but the earlier
        attempt turns out to have landed too, keep the oldest and ``discard`` (delete) the copy.
        Returns ``(resource, created)``. ``look_first=False`` skips the first lookup when the caller
        has just looked.
        """
        existing = find() if look_first else None
        if existing is not None:
            return existing, False
        s = self.settings
        budget = RetryBudget(s.max_retries, s.retry_deadline, s.backoff_base)
        resent = False
        while True:
            try:
                created = create()
            except AdobeApiError as err:
                if not err.ambiguous:
                    raise
                self.log.warning(
                    "Creating %s %r may have failed (%s); checking whether it exists before trying again.",
                    kind,
                    name,
                    f"HTTP {err.status}" if err.status else "no response",
                )
                found = find()
                if found is None:
                    wait = budget.next_wait()
                    if wait is None:
                        raise
                    self.log.info("The %s %r does not exist yet; looking again in %.1f s.", kind, name, wait)
                    time.sleep(wait)
                    found = find()  # a create Adobe applied late shows up here, not as a second resource
                if found is not None:
                    self.log.info("The %s %r was created after all: %s", kind, name, found.get("id"))
                    return found, True
                self.log.info("The %s %r still does not exist; creating it again.", kind, name)
                resent = True
                continue
            if resent:
                return self._keep_oldest(kind, name, created, find, discard), True
            return created, True

    def _keep_oldest(
        self,
        kind: str,
        name: str,
        created: dict[str, Any],
        find: Callable[[], dict[str, Any] | None],
        discard: Callable[[str], Any] | None,
    ) -> dict[str, Any]:
        """After a resent create: if the first attempt landed as well, keep the oldest, delete ours."""
        oldest = find()
        if oldest is None or oldest.get("id") == created.get("id"):
            return created
        if discard is None:
            self.log.warning(
                "The first attempt to create %s %r landed late (%s); %s is a second copy.",
                kind,
                name,
                oldest.get("id"),
                created.get("id"),
            )
            return created
        self.log.warning(
            "The first attempt to create %s %r landed late (%s); deleting the copy %s.",
            kind,
            name,
            oldest.get("id"),
            created.get("id"),
        )
        discard(str(created["id"]))
        return oldest

    # ----------------------------------------------------------------- connections
    def create_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /connections`` → ``{id, etag}``."""
        return self._create("connections", body)

    def get_connection_by_id(self, connection_id: str) -> dict[str, Any]:
        """``GET /connections/{id}``: the base connection, secrets masked by Adobe."""
        return self._get("connections", connection_id)

    def find_connections(
        self, *, name: str | None = None, connection_spec_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Base connections with that exact name and/or connection spec."""
        props = {"connectionSpec.id": connection_spec_id} if connection_spec_id else {}
        return self._find("connections", name=name, **props)

    def update_connection(self, connection_id: str, operations: list[dict[str, Any]], etag: str | None) -> dict:
        """``PATCH /connections/{id}`` with a JSON-Patch list, guarded by ``If-Match``."""
        if not etag:
            raise AepInputError(f"etag: connection {connection_id} has no etag to send as If-Match; read it again.")
        return (
            self.request(
                "PATCH",
                f"/connections/{path_id(connection_id)}",
                json=operations,
                headers={"If-Match": etag},
            )
            or {}
        )

    def delete_connection(self, connection_id: str, *, missing_ok: bool = False) -> bool:
        return self._delete("connections", connection_id, missing_ok=missing_ok)

    def check_connection(self, connection_id: str) -> bool:
        """``GET /connections/{id}/test``: whether Adobe can reach the source with the stored auth."""
        data = self.request("GET", f"/connections/{path_id(connection_id)}/test") or {}
        return bool(data.get("result"))

    def get_connection_spec(self, spec_id: str) -> dict[str, Any]:
        return self._get("connectionSpecs", spec_id)

    def explore(
        self,
        connection_id: str,
        *,
        object_type: str = "root",
        object_path: str | None = None,
        preview: bool = False,
        filters: str | None = None,
    ) -> Any:
        """``GET /connections/{id}/explore``: the tables (root) or one table's schema and rows."""
        params: dict[str, Any] = {"objectType": object_type}
        if object_path is not None:
            params["object"] = object_path
        if preview:
            params["preview"] = "true"
        if filters:
            params["filters"] = filters
        return self.request("GET", f"/connections/{path_id(connection_id, 'connection_id')}/explore", params=params)

    def explore_tables(self, connection_id: str) -> Iterator[dict[str, Any]]:
        """``GET /connections/{id}/explore?objectType=root``, every page: the tables behind a base connection."""
        return self.paginate(
            f"/connections/{path_id(connection_id, 'connection_id')}/explore", params={"objectType": "root"}
        )

    # ----------------------------------------------------------------- source / target connections
    def create_source_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create("sourceConnections", body)

    def get_source_connection(self, source_connection_id: str) -> dict[str, Any]:
        return self._get("sourceConnections", source_connection_id)

    def find_source_connections(self, *, name: str) -> list[dict[str, Any]]:
        return self._find("sourceConnections", name=name)

    def create_target_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create("targetConnections", body)

    def get_target_connection(self, target_connection_id: str) -> dict[str, Any]:
        return self._get("targetConnections", target_connection_id)

    def find_target_connections(self, *, name: str) -> list[dict[str, Any]]:
        return self._find("targetConnections", name=name)

    # ----------------------------------------------------------------- mapping sets (Data Prep)
    def create_mapping_set(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create("mappingSets", body, service=DATA_PREP)

    def find_mapping_sets(self, *, name: str) -> list[dict[str, Any]]:
        """Mapping sets with that exact name (``GET /mappingSets?name=``, every page).

        Data Prep does not document its ``name`` filter as exact, so names are compared here and the
        ``start``-offset pages are read until one comes back short (at most ``MAPPING_SET_PAGES``).
        """
        found: list[dict[str, Any]] = []
        for page in range(MAPPING_SET_PAGES):
            params = {"name": name, "limit": MAPPING_SET_PAGE_SIZE, "start": page * MAPPING_SET_PAGE_SIZE}
            data = self.request("GET", "/mappingSets", service=DATA_PREP, params=params) or {}
            items = (data.get("data") or data.get("items") or []) if isinstance(data, dict) else data
            found += [item for item in items if isinstance(item, dict) and item.get("name") == name]
            if len(items) < MAPPING_SET_PAGE_SIZE:
                break
        return found

    def get_mapping_set(self, mapping_set_id: str) -> dict[str, Any]:
        return self._get("mappingSets", mapping_set_id, service=DATA_PREP)

    # ----------------------------------------------------------------- flows and runs
    def get_flow_spec(self, flow_spec_id: str) -> dict[str, Any]:
        return self._get("flowSpecs", flow_spec_id)

    def find_flow_spec(self, name: str) -> dict[str, Any]:
        """The flow spec of that name, e.g. ``CRMToAEP``, looked up once per process (flow specs are global)."""
        cache_key = (self.settings.platform_url, name)
        cached = _flow_specs.get(cache_key)
        if cached is not None:
            return cached
        for spec in self.paginate("/flowSpecs", params={"property": f'name=="{name}"'}):
            if spec.get("name") == name:
                _flow_specs[cache_key] = spec
                return spec
        raise AdobeApiError(status=404, method="GET", path="/flowSpecs", title=f"no flow spec named {name!r}")

    def get_flow_spec_id(self, name: str) -> str:
        """The id of a flow spec by name (cached with the spec)."""
        return str(self.find_flow_spec(name)["id"])

    def create_flow(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._create("flows", body)

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        return self._get("flows", flow_id, field="flow_id")

    def find_flows(self, *, name: str) -> list[dict[str, Any]]:
        return self._find("flows", name=name)

    def flow_action(self, flow_id: str, op: str) -> Any:
        """``POST /flows/{id}/action?op=ENABLE|DISABLE``."""
        return self.request("POST", f"/flows/{path_id(flow_id)}/action", params={"op": op.upper()})

    def create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /runs`` (on-demand run of a ``once`` flow) → ``{id, etag}``."""
        return _first_item(self._create("runs", body))

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._get("runs", run_id, field="run_id")

    def list_runs(self, flow_id: str) -> Iterator[dict[str, Any]]:
        """Runs of a flow, newest first; ``AepInputError`` for an id that would change the filter."""
        flow_id = check_filter_id(flow_id, "flow_id")
        return self.paginate("/runs", params={"property": f"flowId=={flow_id}", "orderby": "-createdAt"})

    def delete_resource(self, collection: str, resource_id: str, *, missing_ok: bool = True) -> bool:
        """Delete a connection, source/target connection or flow by id."""
        return self._delete(collection, resource_id, missing_ok=missing_ok)

    # ----------------------------------------------------------------- UI test button
    def test_connection(self) -> tuple[bool, str]:
        """Get a token and make one cheap Flow Service call; report org and sandbox."""
        try:
            s = self.settings
            self.get_access_token()
            self.request("GET", "/connections", params={"count": "true"})
        except Exception as err:
            return False, str(err)
        return True, (
            f"Connected to Adobe Experience Platform: org {s.org_id}, sandbox '{s.sandbox_name}', client {s.client_id}."
        )


def _airflow_version() -> str:
    try:
        from airflow import __version__ as version

        return version
    except ImportError:  # pragma: no cover
        return "unknown"


def _first_item(data: Any) -> dict[str, Any]:
    """Adobe wraps single resources in ``{"items": [...]}``; accept the bare object too."""
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return data["items"][0] if data["items"] else {}
    return data if isinstance(data, dict) else {}


def _failed_before_sending(exc: Exception) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


def _network_reason(exc: Exception, timeout: float) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"connection timed out after {timeout:g} s"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"no response within {timeout:g} s (read timeout)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _failed_before_sending(exc):
            return "could not connect"
        return "the connection was dropped before a response arrived"
    return type(exc).__name__


def _tls_error(method: str, path: str, base: str, exc: Exception) -> AdobeApiError:
    return AdobeApiError(
        status=None,
        method=method,
        path=path,
        title=f"TLS certificate verification failed for {base}",
        hint="TLS verification stays on; install the right CA bundle (REQUESTS_CA_BUNDLE) instead.",
    )
