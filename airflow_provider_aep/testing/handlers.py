"""Request handling for IMS, the API gateway checks, Flow Service and Data Prep."""

from __future__ import annotations

import copy
import json
import re
import traceback
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from airflow_provider_aep.testing import specs
from airflow_provider_aep.testing.catalog import Catalog, PqlError, compile_pql, decode_filters
from airflow_provider_aep.testing.errors import (
    ApiError,
    bad_request,
    flow_body,
    flow_error,
    gateway_error,
    ims_error,
)
from airflow_provider_aep.testing.state import AuthRegistry, Clock, Store, list_page, new_etag, query_int
from airflow_provider_aep.testing.validation import check_key_file, check_schedule, validate_schema

if TYPE_CHECKING:
    from collections.abc import Callable

FLOW_PREFIX = "/data/foundation/flowservice"
CONVERSION_PREFIX = "/data/foundation/conversion"
IMS_TOKEN_PATH = "/ims/token/v3"
DATA_PREP_PAGE_SIZE = 10  # the spec's default "limit" of GET /mappingSets
MASK = "<masked>"

_ID = r"(?P<id>[^/]+)"
_PATCH_ROOTS = {
    "connections": {"auth", "name", "description"},
    "sourceConnections": {"name", "description", "params", "data"},
    "targetConnections": {"name", "description", "params", "data"},
    "flows": {"name", "description", "scheduleParams", "transformations", "sourceConnectionIds", "targetConnectionIds"},
}
_LABELS = {
    "connections": "Connection",
    "sourceConnections": "Source connection",
    "targetConnections": "Target connection",
    "flows": "Flow",
    "runs": "Run",
    "mappingSets": "Mapping set",
}


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    request_id: str
    client_id: str = ""
    org_id: str = ""
    sandbox: str = ""

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        if not self.body.strip():
            raise bad_request("A JSON request body is required", field="body")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad_request(f"Malformed JSON request body: {exc}", field="body") from exc

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object", field="body")
        return body


@dataclass
class Response:
    """What to send back: a JSON body (``body``) or raw bytes (``raw``)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"


@dataclass
class RunPlan:
    """How emulated runs end."""

    outcome: str = "success"
    duration: float = 2.0
    input_records: int = 1000
    output_records: int | None = None
    failed_records: int = 0
    errors: list[dict[str, str]] | None = None


def _require_str(body: dict[str, Any], key: str, where: str | None = None) -> str:
    value = body.get(key)
    name = where or key
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{name} is required and must be a non-empty string", field=name)
    return value


def _spec_ref(body: dict[str, Any], key: str) -> dict[str, str]:
    ref = body.get(key)
    if not isinstance(ref, dict):
        raise bad_request(f"{key} is required and must be an object with id and version", field=key)
    spec_id = _require_str(ref, "id", f"{key}.id")
    version = ref.get("version", specs.SPEC_VERSION)
    if version != specs.SPEC_VERSION:
        raise bad_request(f'{key}.version must be "{specs.SPEC_VERSION}", got {version!r}', field=f"{key}.version")
    return {"id": spec_id, "version": version}


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in resource.items() if not k.startswith("_")}


class Service:
    """The emulated APIs. ``handle`` never raises: errors become Adobe-shaped responses."""

    def __init__(
        self,
        *,
        cloud: str,
        sandboxes: tuple[str, ...],
        token_ttl: int,
        default_page_size: int,
        clock: Clock,
        auth: AuthRegistry,
        store: Store,
        catalog: Catalog,
    ) -> None:
        self.cloud = cloud
        self.sandboxes = sandboxes
        self.token_ttl = token_ttl
        self.default_page_size = default_page_size
        self.clock = clock
        self.auth = auth
        self.store = store
        self.catalog = catalog
        self.connection_catalogs: dict[str, Catalog] = {}  # per base connection id, else ``catalog``
        self.connection_specs = specs.connection_specs(cloud)
        self.flow_specs = specs.flow_specs()
        self.run_plans: dict[str | None, RunPlan] = {None: RunPlan()}
        self.connection_test_result: bool | None = None
        self.show_run_params = True
        self._flow_routes = self._build_flow_routes()
        self._conversion_routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("GET", re.compile(r"^/mappingSets$"), self.list_mapping_sets),
            ("POST", re.compile(r"^/mappingSets$"), self.create_mapping_set),
            ("GET", re.compile(rf"^/mappingSets/{_ID}$"), self.get_mapping_set),
        ]

    # --- entry point ---------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        try:
            with self.store.lock:
                return self._route(req)
        except ApiError as exc:
            return Response(exc.status, exc.render(req.request_id), headers=dict(exc.headers))
        except Exception as exc:  # pragma: no cover - a bug in the emulator
            detail = f"Emulator error: {exc!r}\n{traceback.format_exc()}"
            return Response(500, flow_body("1102-500", detail, req.request_id))

    def _route(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path == IMS_TOKEN_PATH:
            return self.ims_token(req)
        for prefix, routes in ((FLOW_PREFIX, self._flow_routes), (CONVERSION_PREFIX, self._conversion_routes)):
            if path == prefix or path.startswith(prefix + "/"):
                sub = path[len(prefix) :] or "/"
                self._gateway(req)
                allowed = False
                for method, pattern, handler in routes:
                    match = pattern.match(sub)
                    if match is None:
                        continue
                    allowed = True
                    if method == req.method:
                        self._check_content_type(req)
                        return handler(req, **match.groupdict())
                if allowed:
                    raise flow_error("1107-405", f"Method {req.method} is not allowed on {sub}")
                raise flow_error("1101-404", f"No API resource at {sub}")
        raise gateway_error(404, "404000", f"Resource not found: {req.path}")

    def _build_flow_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Response]]]:
        table: list[tuple[str, str, Callable[..., Response]]] = [
            ("GET", "/connections", self.list_connections),
            ("POST", "/connections", self.create_connection),
            ("GET", f"/connections/{_ID}/test", self.test_connection),
            ("GET", f"/connections/{_ID}/explore", self.explore),
            ("GET", f"/connections/{_ID}", self.get_connection),
            ("PATCH", f"/connections/{_ID}", lambda req, id: self.patch(req, "connections", id)),
            ("DELETE", f"/connections/{_ID}", self.delete_connection),
            ("GET", "/connectionSpecs", self.list_connection_specs),
            ("GET", f"/connectionSpecs/{_ID}", self.get_connection_spec),
            ("GET", "/sourceConnections", lambda req: self.list_kind(req, "sourceConnections")),
            ("POST", "/sourceConnections", self.create_source_connection),
            ("GET", f"/sourceConnections/{_ID}", lambda req, id: self.get_kind(req, "sourceConnections", id)),
            ("PATCH", f"/sourceConnections/{_ID}", lambda req, id: self.patch(req, "sourceConnections", id)),
            ("DELETE", f"/sourceConnections/{_ID}", lambda req, id: self.delete_conn(req, "sourceConnections", id)),
            ("GET", "/targetConnections", lambda req: self.list_kind(req, "targetConnections")),
            ("POST", "/targetConnections", self.create_target_connection),
            ("GET", f"/targetConnections/{_ID}", lambda req, id: self.get_kind(req, "targetConnections", id)),
            ("PATCH", f"/targetConnections/{_ID}", lambda req, id: self.patch(req, "targetConnections", id)),
            ("DELETE", f"/targetConnections/{_ID}", lambda req, id: self.delete_conn(req, "targetConnections", id)),
            ("GET", "/flowSpecs", self.list_flow_specs),
            ("GET", f"/flowSpecs/{_ID}", self.get_flow_spec),
            ("GET", "/flows", lambda req: self.list_kind(req, "flows")),
            ("POST", "/flows", self.create_flow),
            ("POST", f"/flows/{_ID}/action", self.flow_action),
            ("GET", f"/flows/{_ID}", lambda req, id: self.get_kind(req, "flows", id)),
            ("PATCH", f"/flows/{_ID}", lambda req, id: self.patch(req, "flows", id)),
            ("DELETE", f"/flows/{_ID}", self.delete_flow),
            ("GET", "/runs", lambda req: self.list_kind(req, "runs")),
            ("POST", "/runs", self.create_run),
            ("GET", f"/runs/{_ID}", lambda req, id: self.get_kind(req, "runs", id)),
        ]
        return [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in table]

    # --- IMS and gateway -------------------------------------------------------------------------

    def ims_token(self, req: Request) -> Response:
        if req.method != "POST":
            raise ims_error(405, "invalid_request", "Only POST is supported on the token endpoint")
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise ims_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded")
        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)

        def get(key: str) -> str:
            return form.get(key, [""])[0]

        client = self.auth.clients.get(get("client_id"))
        if client is None:
            raise ims_error(400, "invalid_client", "invalid client_id parameter")
        if get("client_secret") != client.client_secret:
            raise ims_error(401, "invalid_client", "invalid client_secret parameter")
        if get("grant_type") != "client_credentials":
            raise ims_error(400, "unsupported_grant_type", "unsupported grant_type parameter")
        if not get("scope").strip():
            raise ims_error(400, "invalid_scope", "invalid scope parameter")
        token = self.auth.issue(client, self.clock.now(), self.token_ttl)
        return Response(200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl})

    def _gateway(self, req: Request) -> None:
        header = req.headers.get("authorization", "").strip()
        if not header:
            raise gateway_error(403, "403010", "Oauth token is missing.")
        scheme, _, value = header.partition(" ")
        token = self.auth.lookup(value.strip(), self.clock.now()) if scheme.lower() == "bearer" else None
        if token is None:
            raise gateway_error(401, "401013", "Oauth token is not valid")
        api_key = req.headers.get("x-api-key", "").strip()
        if not api_key:
            raise gateway_error(403, "403000", "Api Key is required")
        if api_key != token.client_id:
            raise gateway_error(403, "403003", "Api Key is invalid")
        org = req.headers.get("x-gw-ims-org-id", "").strip()
        if not org:
            raise gateway_error(400, "400003", "Missing x-gw-ims-org-id header")
        if org != token.org_id:
            raise flow_error("2002-401", f"The access token is not valid for organization {org}")
        sandbox = req.headers.get("x-sandbox-name", "").strip()
        if not sandbox:
            raise flow_error("2105-400", "The x-sandbox-name header is required")
        if sandbox not in self.sandboxes:
            raise flow_error("2100-404", f"Sandbox {sandbox} not found")
        req.client_id, req.org_id, req.sandbox = token.client_id, org, sandbox

    @staticmethod
    def _check_content_type(req: Request) -> None:
        if req.method not in ("POST", "PATCH", "PUT") or not req.body:
            return
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        allowed = {"application/json"} | ({"application/json-patch+json"} if req.method == "PATCH" else set())
        if ctype not in allowed:
            raise flow_error("1106-415", f"Content-Type {ctype or '(none)'} is not supported; use application/json")

    # --- common helpers --------------------------------------------------------------------------

    def _meta(self, req: Request, rid: str | None = None) -> dict[str, Any]:
        now = self.clock.now_ms()
        etag = new_etag()
        return {
            "id": rid or str(uuid.uuid4()),
            "createdAt": now,
            "updatedAt": now,
            "createdBy": req.client_id,
            "updatedBy": req.client_id,
            "createdClient": req.client_id,
            "updatedClient": req.client_id,
            "sandboxId": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{req.sandbox}.sandbox.aep.test")),
            "sandboxName": req.sandbox,
            "imsOrgId": req.org_id,
            "etag": etag,
            "version": etag,
        }

    def _find(self, req: Request, kind: str, rid: str) -> dict[str, Any]:
        found = self.store.get(req.sandbox, kind, rid)
        if found is None:
            raise flow_error("1101-404", f"{_LABELS[kind]} with id {rid} not found in sandbox {req.sandbox}")
        return found

    def _ref(self, req: Request, kind: str, rid: Any, where: str) -> dict[str, Any]:
        found = self.store.get(req.sandbox, kind, rid) if isinstance(rid, str) else None
        if found is None:
            raise bad_request(f"{where}: {_LABELS[kind].lower()} {rid!r} does not exist", field=where)
        return found

    def view(self, kind: str, resource: dict[str, Any], *, mask: bool = True) -> dict[str, Any]:
        """The JSON a GET returns for a stored resource."""
        if kind == "runs":
            return self._run_view(resource)
        out = _public(resource)
        if kind == "connections" and mask:
            spec = self.connection_specs.get(resource["connectionSpec"]["id"], {})
            secrets_ = specs.secret_fields(spec, resource.get("auth", {}).get("specName", ""))
            params = out.get("auth", {}).get("params", {})
            for key in secrets_ & set(params):
                params[key] = MASK
        if kind == "flows":
            runs = [r for r in self.store.items(resource["sandboxName"], "runs") if r["flowId"] == resource["id"]]
            if runs:
                last = self._run_view(max(runs, key=lambda r: self.store.seq(r["id"])))
                summary = last["metrics"]
                out["lastRunDetails"] = {
                    "id": last["id"],
                    "state": summary["statusSummary"]["status"],
                    "startedAtUTC": summary["durationSummary"]["startedAtUTC"],
                    "completedAtUTC": summary["durationSummary"].get("completedAtUTC"),
                }
        return out

    def list_kind(self, req: Request, kind: str) -> Response:
        views = [self.view(kind, r) for r in self.store.items(req.sandbox, kind)]
        body = list_page(
            views, req.query, href_base=f"/{kind}", default_limit=self.default_page_size, seq=self.store.seq
        )
        return Response(200, body)

    def get_kind(self, req: Request, kind: str, rid: str) -> Response:
        return Response(200, {"items": [self.view(kind, self._find(req, kind, rid))]})

    @staticmethod
    def _created(resource: dict[str, Any], kind: str) -> Response:
        return Response(
            201,
            {"id": resource["id"], "etag": resource["etag"]},
            headers={"Location": f"{FLOW_PREFIX}/{kind}/{resource['id']}"},
        )

    def _users_of(self, req: Request, kind: str, rid: str) -> list[str]:
        """Ids of flows that use a connection of ``kind`` (base connections via source connections)."""
        flows = self.store.items(req.sandbox, "flows")
        if kind == "connections":
            sources = {
                s["id"] for s in self.store.items(req.sandbox, "sourceConnections") if s.get("baseConnectionId") == rid
            }
            return [f["id"] for f in flows if sources & set(f["sourceConnectionIds"])]
        key = "sourceConnectionIds" if kind == "sourceConnections" else "targetConnectionIds"
        return [f["id"] for f in flows if rid in f[key]]

    # --- connections -----------------------------------------------------------------------------

    def _check_connection(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _require_str(body, "name")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise bad_request("description must be a string", field="description")
        ref = _spec_ref(body, "connectionSpec")
        spec = self.connection_specs.get(ref["id"])
        if spec is None:
            raise bad_request(f"Connection spec {ref['id']} not found", field="connectionSpec.id")
        out: dict[str, Any] = {"name": name, "connectionSpec": ref}
        if description is not None:
            out["description"] = description
        auth = body.get("auth")
        if not spec.get("authSpec"):
            if auth is not None:
                out["auth"] = auth
            return out
        if not isinstance(auth, dict):
            raise bad_request("auth is required and must be an object", field="auth")
        spec_name = _require_str(auth, "specName", "auth.specName")
        entry = specs.auth_spec(spec, spec_name)
        if entry is None:
            declared = ", ".join(repr(a["name"]) for a in spec["authSpec"])
            raise flow_error(
                "1415-400",
                f"Auth spec {spec_name!r} is not declared by connection spec {spec['name']} "
                f"({ref['id']}); declared: {declared}",
                field="auth.specName",
            )
        auth_type = auth.get("type")
        if entry["type"] == "OAuth2.0" and auth_type != "OAuth2.0":
            raise bad_request(f'auth.type must be "OAuth2.0" for {spec_name}', field="auth.type")
        if auth_type is not None and auth_type != entry["type"]:
            raise bad_request(f"auth.type must be {entry['type']!r} for {spec_name}", field="auth.type")
        params = auth.get("params")
        if not isinstance(params, dict):
            raise bad_request("auth.params is required and must be an object", field="auth.params")
        error = validate_schema(entry["spec"], params, "auth.params")
        if error:
            raise bad_request(f"Invalid auth params for {spec_name}: {error[1]}", field=error[0])
        if "keyFileContent" in params:
            key_error = check_key_file(params["keyFileContent"])
            if key_error:
                raise bad_request(key_error, field="auth.params.keyFileContent")
        out["auth"] = {k: copy.deepcopy(v) for k, v in auth.items() if k in ("specName", "type", "params")}
        return out

    def create_connection(self, req: Request) -> Response:
        checked = self._check_connection(req.json_object())
        resource = {**self._meta(req), **checked, "state": "enabled"}
        self.store.insert(req.sandbox, "connections", resource)
        return self._created(resource, "connections")

    def list_connections(self, req: Request) -> Response:
        return self.list_kind(req, "connections")

    def get_connection(self, req: Request, id: str) -> Response:
        return self.get_kind(req, "connections", id)

    def delete_connection(self, req: Request, id: str) -> Response:
        return self.delete_conn(req, "connections", id)

    def delete_conn(self, req: Request, kind: str, id: str) -> Response:
        self._find(req, kind, id)
        users = self._users_of(req, kind, id)
        if users:
            raise flow_error(
                "1418-400", f"{_LABELS[kind]} {id} is in use by dataflow(s) {', '.join(users)}; delete them first"
            )
        self.store.delete(req.sandbox, kind, id)
        return Response(204)

    def _auth_ok(self, conn: dict[str, Any]) -> bool:
        try:
            self._check_connection({k: conn.get(k) for k in ("name", "connectionSpec", "auth")})
        except ApiError:
            return False
        params = conn.get("auth", {}).get("params", {})
        return "fail-test-project" not in (params.get("projectId"), params.get("project"))

    def test_connection(self, req: Request, id: str) -> Response:
        conn = self._find(req, "connections", id)
        result = self.connection_test_result
        return Response(200, {"result": self._auth_ok(conn) if result is None else result})

    def catalog_of(self, connection_id: str) -> Catalog:
        """The BigQuery tables behind a base connection."""
        return self.connection_catalogs.get(connection_id, self.catalog)

    def explore(self, req: Request, id: str) -> Response:
        self._find(req, "connections", id)
        catalog = self.catalog_of(id)
        object_type = (req.arg("objectType") or "").lower()
        if object_type == "root":
            return Response(200, catalog.root())
        if object_type != "table":
            raise bad_request("objectType must be root or table", field="objectType")
        path = req.arg("object")
        if not path:
            raise bad_request("object is required when objectType is table", field="object")
        columns = catalog.columns(path)
        if columns is None:
            raise flow_error("1101-404", f"Table {path} not found", field="object")
        predicate = None
        filters = req.arg("filters")
        if filters is not None:
            try:
                predicate = compile_pql(decode_filters(filters), columns)
            except PqlError as exc:
                raise bad_request(f"Invalid filters parameter: {exc}", field="filters") from exc
        body = catalog.schema(path)
        if (req.arg("preview") or "").lower() == "true":
            body["data"] = catalog.rows(path, predicate)
        return Response(200, body)

    def list_connection_specs(self, req: Request) -> Response:
        items = list(self.connection_specs.values())
        order = {s["id"]: n for n, s in enumerate(items)}
        body = list_page(
            items, req.query, href_base="/connectionSpecs", default_limit=self.default_page_size, seq=order.get
        )
        return Response(200, body)

    def get_connection_spec(self, req: Request, id: str) -> Response:
        spec = self.connection_specs.get(id)
        if spec is None:
            raise flow_error("1101-404", f"Connection spec {id} not found")
        return Response(200, {"items": [copy.deepcopy(spec)]})

    # --- PATCH (JSON Patch, If-Match) ------------------------------------------------------------

    def patch(self, req: Request, kind: str, id: str) -> Response:
        resource = self._find(req, kind, id)
        if_match = req.headers.get("if-match", "").strip()
        if not if_match:
            raise flow_error("1403-400", "The If-Match header is required to update a resource")
        if if_match.removeprefix("W/").strip('"') != resource["etag"].strip('"'):
            raise flow_error("1404-412", f"The etag {if_match} is stale; the current etag is {resource['etag']}")
        ops = req.json()
        if isinstance(ops, dict):
            ops = [ops]
        if not isinstance(ops, list) or not ops:
            raise bad_request("The body must be a non-empty JSON Patch array", field="body")
        candidate = copy.deepcopy(resource)
        for index, op in enumerate(ops):
            _apply_patch(candidate, op, _PATCH_ROOTS[kind], f"[{index}]")
        if kind == "connections":
            checked = self._check_connection(
                {k: candidate.get(k) for k in ("name", "description", "connectionSpec", "auth") if k in candidate}
            )
            candidate.update(checked)
        elif kind == "sourceConnections":
            self._check_source(req, candidate)
        elif kind == "targetConnections":
            self._check_target(req, candidate)
        elif kind == "flows":
            self._check_flow(req, candidate)
        etag = new_etag()
        candidate.update(
            etag=etag, version=etag, updatedAt=self.clock.now_ms(), updatedBy=req.client_id, updatedClient=req.client_id
        )
        resource.clear()
        resource.update(candidate)
        return Response(200, {"id": id, "etag": etag})

    # --- source / target connections -------------------------------------------------------------

    def _check_source(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        name = _require_str(body, "name")
        base = self._ref(req, "connections", body.get("baseConnectionId"), "baseConnectionId")
        ref = _spec_ref(body, "connectionSpec")
        if ref["id"] != base["connectionSpec"]["id"]:
            raise bad_request(
                f"connectionSpec.id {ref['id']} does not match the base connection's spec "
                f"{base['connectionSpec']['id']}",
                field="connectionSpec.id",
            )
        data = body.get("data")
        if not isinstance(data, dict) or data.get("format") != "tabular":
            raise bad_request('data.format is required and must be "tabular"', field="data.format")
        params = body.get("params")
        if not isinstance(params, dict):
            raise bad_request("params is required and must be an object", field="params")
        table = _require_str(params, "tableName", "params.tableName")
        columns = self.catalog_of(base["id"]).columns(table)
        if columns is None:
            raise bad_request(f"params.tableName: table {table} not found in the source", field="params.tableName")
        selected = params.get("columns")
        if selected is not None:
            if not isinstance(selected, list) or not selected or not all(isinstance(c, str) for c in selected):
                raise bad_request("params.columns must be a non-empty list of column names", field="params.columns")
            unknown = [c for c in selected if c not in columns]
            if unknown:
                raise bad_request(f"params.columns: unknown column(s) {unknown} in {table}", field="params.columns")
        if params.get("filters") is not None:
            try:
                compile_pql(params["filters"], columns)
            except PqlError as exc:
                raise bad_request(f"params.filters is invalid: {exc}", field="params.filters") from exc
        out = {
            "name": name,
            "baseConnectionId": base["id"],
            "connectionSpec": ref,
            "data": copy.deepcopy(data),
            "params": copy.deepcopy(params),
        }
        if isinstance(body.get("description"), str):
            out["description"] = body["description"]
        return out

    def create_source_connection(self, req: Request) -> Response:
        checked = self._check_source(req, req.json_object())
        resource = {**self._meta(req), **checked, "state": "enabled"}
        self.store.insert(req.sandbox, "sourceConnections", resource)
        return self._created(resource, "sourceConnections")

    def _check_target(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        name = _require_str(body, "name")
        ref = _spec_ref(body, "connectionSpec")
        if ref["id"] != specs.DATA_LAKE_SPEC_ID:
            raise bad_request(
                f"connectionSpec.id must be the Data Lake spec {specs.DATA_LAKE_SPEC_ID}", field="connectionSpec.id"
            )
        data = body.get("data")
        schema = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(schema, dict):
            raise bad_request("data.schema is required", field="data.schema")
        schema_id = schema.get("id")
        if not isinstance(schema_id, str) or not schema_id.startswith("https://ns.adobe.com/"):
            raise bad_request(
                "data.schema.id must be an XDM schema id starting with https://ns.adobe.com/", field="data.schema.id"
            )
        params = body.get("params")
        if not isinstance(params, dict):
            raise bad_request("params.dataSetId is required", field="params.dataSetId")
        _require_str(params, "dataSetId", "params.dataSetId")
        if body.get("baseConnectionId") is not None:
            self._ref(req, "connections", body["baseConnectionId"], "baseConnectionId")
        out = {"name": name, "connectionSpec": ref, "data": copy.deepcopy(data), "params": copy.deepcopy(params)}
        for key in ("description", "baseConnectionId"):
            if body.get(key) is not None:
                out[key] = body[key]
        return out

    def create_target_connection(self, req: Request) -> Response:
        checked = self._check_target(req, req.json_object())
        resource = {**self._meta(req), **checked, "state": "enabled"}
        self.store.insert(req.sandbox, "targetConnections", resource)
        return self._created(resource, "targetConnections")

    # --- mapping sets (Data Prep) ----------------------------------------------------------------

    def create_mapping_set(self, req: Request) -> Response:
        body = req.json_object()
        output = body.get("outputSchema")
        ref = output.get("schemaRef") if isinstance(output, dict) else None
        if (
            not isinstance(ref, dict)
            or not isinstance(ref.get("id"), str)
            or not ref["id"].startswith("https://ns.adobe.com/")
        ):
            raise bad_request(
                "outputSchema.schemaRef.id is required (an XDM schema id)", field="outputSchema.schemaRef.id"
            )
        mappings = body.get("mappings")
        if not isinstance(mappings, list) or not mappings:
            raise bad_request("mappings must be a non-empty array", field="mappings")
        now = self.clock.now_ms()
        stored = []
        for index, mapping in enumerate(mappings):
            where = f"mappings[{index}]"
            if not isinstance(mapping, dict):
                raise bad_request(f"{where} must be an object", field=where)
            for key in ("source", "destination"):
                if not isinstance(mapping.get(key), str) or not mapping[key].strip():
                    raise bad_request(f"{where}.{key} is required", field=f"{where}.{key}")
            source_type = mapping.get("sourceType", "ATTRIBUTE")
            if source_type not in ("ATTRIBUTE", "EXPRESSION", "CONSTANT"):
                raise bad_request(
                    f"{where}.sourceType must be ATTRIBUTE, EXPRESSION or CONSTANT", field=f"{where}.sourceType"
                )
            stored.append(
                {
                    **copy.deepcopy(mapping),
                    "sourceType": source_type,
                    "id": uuid.uuid4().hex,
                    "version": 0,
                    "createdDate": now,
                    "modifiedDate": now,
                    "createdBy": req.client_id,
                    "modifiedBy": req.client_id,
                }
            )
        summary = {
            "id": uuid.uuid4().hex,
            "version": 0,
            "createdDate": now,
            "modifiedDate": now,
            "createdBy": req.client_id,
            "modifiedBy": req.client_id,
        }
        resource = {
            **summary,
            "outputSchema": copy.deepcopy(output),
            "mappings": stored,
            "sandboxName": req.sandbox,
            "imsOrgId": req.org_id,
        }
        for key in ("name", "inputSchema", "allowNullValues", "tags"):
            if key in body:
                resource[key] = copy.deepcopy(body[key])
        self.store.insert(req.sandbox, "mappingSets", resource)
        return Response(200, summary)

    def get_mapping_set(self, req: Request, id: str) -> Response:
        return Response(200, _public(self._find(req, "mappingSets", id)))

    def list_mapping_sets(self, req: Request) -> Response:
        """Data Prep's list: ``limit`` (default 10) and ``start`` offset paging, newest first.

        Adobe documents ``name`` only as "filter the mapping sets by name", not as an exact match, so the
        emulator matches it as a substring: a client must compare names itself and read every page.
        """
        name = req.arg("name")
        limit = query_int(req.query, "limit", DATA_PREP_PAGE_SIZE, minimum=1)
        start = query_int(req.query, "start", 0, minimum=0)
        stored = self.store.items(req.sandbox, "mappingSets")
        matching = [m for m in stored if name is None or name in m.get("name", "")]
        matching.sort(key=lambda m: self.store.seq(m["id"]), reverse=True)
        page = [_public(m) for m in matching[start : start + limit]]
        return Response(200, {"data": page, "_page": {"count": len(matching), "limit": limit}})

    # --- flows -----------------------------------------------------------------------------------

    def _check_flow(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        name = _require_str(body, "name")
        ref = _spec_ref(body, "flowSpec")
        flow_spec = self.flow_specs.get(ref["id"])
        if flow_spec is None:
            raise bad_request(f"Flow spec {ref['id']} not found", field="flowSpec.id")
        ids: dict[str, list[str]] = {}
        for key, kind, allowed in (
            ("sourceConnectionIds", "sourceConnections", flow_spec["sourceConnectionSpecIds"]),
            ("targetConnectionIds", "targetConnections", flow_spec["targetConnectionSpecIds"]),
        ):
            value = body.get(key)
            if not isinstance(value, list) or not value:
                raise bad_request(f"{key} must be a non-empty array of ids", field=key)
            for index, rid in enumerate(value):
                conn = self._ref(req, kind, rid, f"{key}[{index}]")
                if conn["connectionSpec"]["id"] not in allowed:
                    raise bad_request(
                        f"{key}[{index}] uses connection spec {conn['connectionSpec']['id']}, which flow spec "
                        f"{flow_spec['name']} does not support",
                        field=f"{key}[{index}]",
                    )
            ids[key] = list(value)
        transformations = body.get("transformations", [])
        if not isinstance(transformations, list):
            raise bad_request("transformations must be an array", field="transformations")
        tspecs = {t["name"]: t["spec"] for t in flow_spec["transformationSpecs"]}
        for index, item in enumerate(transformations):
            where = f"transformations[{index}]"
            if not isinstance(item, dict) or item.get("name") not in tspecs:
                raise bad_request(f"{where}.name must be one of {sorted(tspecs)}", field=f"{where}.name")
            error = validate_schema(tspecs[item["name"]], item.get("params"), f"{where}.params")
            if error:
                raise bad_request(error[1], field=error[0])
            if item["name"] == "Mapping":
                params = item["params"]
                mapping = self.store.get(req.sandbox, "mappingSets", params["mappingId"])
                if mapping is None:
                    raise bad_request(
                        f"{where}.params.mappingId: mapping set {params['mappingId']} not found",
                        field=f"{where}.params.mappingId",
                    )
                if params["mappingVersion"] != mapping["version"]:
                    raise bad_request(
                        f"{where}.params.mappingVersion: version {params['mappingVersion']} of "
                        f"mapping set {params['mappingId']} not found",
                        field=f"{where}.params.mappingVersion",
                    )
        error = check_schedule(body.get("scheduleParams"))
        if error:
            raise bad_request(error[1], field=error[0])
        out = {
            "name": name,
            "flowSpec": ref,
            **ids,
            "transformations": copy.deepcopy(transformations),
            "scheduleParams": copy.deepcopy(body["scheduleParams"]),
        }
        if isinstance(body.get("description"), str):
            out["description"] = body["description"]
        return out

    def create_flow(self, req: Request) -> Response:
        body = req.json_object()
        if "state" in body:
            raise flow_error("1410-400", "state cannot be set when creating a flow", field="state")
        checked = self._check_flow(req, body)
        meta = self._meta(req)
        sources = [self.store.get(req.sandbox, "sourceConnections", i) or {} for i in checked["sourceConnectionIds"]]
        targets = [self.store.get(req.sandbox, "targetConnections", i) or {} for i in checked["targetConnectionIds"]]
        resource = {
            **meta,
            **checked,
            "state": "enabled",
            "inheritedAttributes": {
                "sourceConnections": [
                    {
                        "id": s["id"],
                        "connectionSpec": s["connectionSpec"],
                        "baseConnection": {"id": s["baseConnectionId"]},
                    }
                    for s in sources
                ],
                "targetConnections": [{"id": t["id"], "connectionSpec": t["connectionSpec"]} for t in targets],
            },
            "runs": f"/runs?property=flowId=={meta['id']}",
            "lastOperation": {"started": meta["createdAt"], "updated": 0, "operation": "create"},
        }
        self.store.insert(req.sandbox, "flows", resource)
        if checked["scheduleParams"]["frequency"] != "once":
            start = checked["scheduleParams"]["startTime"]
            self._new_run(req, resource, {"startTime": start, "windowStartTime": start, "windowEndTime": start})
        return self._created(resource, "flows")

    def flow_action(self, req: Request, id: str) -> Response:
        flow = self._find(req, "flows", id)
        op = (req.arg("op") or "").upper()
        if op not in ("ENABLE", "DISABLE"):
            raise bad_request("op must be ENABLE or DISABLE", field="op")
        etag = new_etag()
        flow.update(
            state="enabled" if op == "ENABLE" else "disabled",
            etag=etag,
            version=etag,
            updatedAt=self.clock.now_ms(),
            updatedBy=req.client_id,
            updatedClient=req.client_id,
        )
        return Response(200, {"id": id, "etag": etag})

    def delete_flow(self, req: Request, id: str) -> Response:
        self._find(req, "flows", id)
        for run in self.store.items(req.sandbox, "runs"):
            if run["flowId"] == id:
                self.store.delete(req.sandbox, "runs", run["id"])
        self.store.delete(req.sandbox, "flows", id)
        return Response(204)

    def list_flow_specs(self, req: Request) -> Response:
        items = list(self.flow_specs.values())
        order = {s["id"]: n for n, s in enumerate(items)}
        body = list_page(items, req.query, href_base="/flowSpecs", default_limit=self.default_page_size, seq=order.get)
        return Response(200, body)

    def get_flow_spec(self, req: Request, id: str) -> Response:
        spec = self.flow_specs.get(id)
        if spec is None:
            raise flow_error("1101-404", f"Flow spec {id} not found")
        return Response(200, {"items": [copy.deepcopy(spec)]})

    # --- runs ------------------------------------------------------------------------------------

    def create_run(self, req: Request) -> Response:
        body = req.json_object()
        flow = self._ref(req, "flows", body.get("flowId"), "flowId")
        if flow["scheduleParams"]["frequency"] != "once":
            raise bad_request(
                f"On-demand runs are only allowed for flows scheduled once; flow {flow['id']} runs every "
                f"{flow['scheduleParams'].get('interval')} {flow['scheduleParams']['frequency']}(s)",
                field="flowId",
            )
        if flow["state"] != "enabled":
            raise bad_request(f"Flow {flow['id']} is disabled", field="flowId")
        params = body.get("params")
        if not isinstance(params, dict):
            raise bad_request("params is required", field="params")
        for key in ("startTime", "windowStartTime", "windowEndTime"):
            value = params.get(key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad_request(f"params.{key} is required and must be an integer", field=f"params.{key}")
        if params["windowStartTime"] > params["windowEndTime"]:
            raise bad_request(
                "params.windowStartTime must not be after params.windowEndTime", field="params.windowStartTime"
            )
        delta = params.get("deltaColumn")
        if delta is not None and (not isinstance(delta, dict) or not isinstance(delta.get("name"), str)):
            raise bad_request("params.deltaColumn must be an object with a name", field="params.deltaColumn.name")
        unknown = set(params) - {"startTime", "windowStartTime", "windowEndTime", "deltaColumn"}
        if unknown:
            raise bad_request(f"params.{sorted(unknown)[0]} is not allowed", field=f"params.{sorted(unknown)[0]}")
        run = self._new_run(req, flow, params)
        return Response(
            201,
            {"items": [{"id": run["id"], "etag": run["etag"]}]},
            headers={"Location": f"{FLOW_PREFIX}/runs/{run['id']}"},
        )

    def _new_run(self, req: Request, flow: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        plan = self.run_plans.get(flow["id"]) or self.run_plans[None]
        run = {
            **self._meta(req),
            "flowId": flow["id"],
            "flowSpec": dict(flow["flowSpec"]),
            "params": copy.deepcopy(params),
            "activities": [],
            "_plan": plan,
        }
        self.store.insert(req.sandbox, "runs", run)
        return run

    def _run_view(self, run: dict[str, Any]) -> dict[str, Any]:
        plan: RunPlan = run["_plan"]
        out = _public(run)
        started = run["createdAt"]
        completed = started + int(plan.duration * 1000)
        done = self.clock.now_ms() >= completed
        duration: dict[str, Any] = {"startedAtUTC": started}
        records = {"inputRecordCount": 0, "outputRecordCount": 0, "failedRecordCount": 0}
        status, errors = "inProgress", []
        if done:
            duration["completedAtUTC"] = completed
            failed = plan.outcome == "failed"
            output = plan.output_records
            if output is None:
                output = 0 if failed else max(plan.input_records - plan.failed_records, 0)
            records = {
                "inputRecordCount": plan.input_records,
                "outputRecordCount": output,
                "failedRecordCount": plan.failed_records,
            }
            status = plan.outcome
            if failed:
                errors = (
                    copy.deepcopy(plan.errors)
                    if plan.errors is not None
                    else [
                        {
                            "code": "CONNECTOR-1001-500",
                            "message": "Copy from source failed: the BigQuery job failed (emulated failure)",
                        }
                    ]
                )
            out["updatedAt"] = completed
        out["metrics"] = {
            "durationSummary": duration,
            "sizeSummary": {
                "inputBytes": records["inputRecordCount"] * 100,
                "outputBytes": records["outputRecordCount"] * 120,
            },
            "recordSummary": records,
            "statusSummary": {"status": status, "errors": errors},
        }
        if not self.show_run_params:
            out.pop("params", None)
        return out


def _apply_patch(doc: dict[str, Any], op: Any, roots: set[str], where: str) -> None:
    """Apply one JSON Patch operation (add/replace/remove) within the allowed top-level fields."""
    if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
        raise bad_request(f"{where}: each operation needs op and path", field="op")
    kind = op["op"].lower()
    if kind not in ("add", "replace", "remove"):
        raise bad_request(f"{where}: unsupported op {op['op']!r} (use add, replace or remove)", field="op")
    if kind != "remove" and "value" not in op:
        raise bad_request(f"{where}: {kind} needs a value", field="value")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    if not op["path"].startswith("/") or not parts or parts[0] not in roots:
        if parts and parts[0] == "state":
            raise flow_error("1410-400", "state cannot be patched; use the action endpoint", field="state")
        raise bad_request(f"{where}: path {op['path']!r} cannot be updated; allowed: {sorted(roots)}", field="path")
    parent: Any = doc
    for part in parts[:-1]:
        try:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise bad_request(f"{where}: path {op['path']!r} does not exist", field="path") from exc
    last = parts[-1]
    value = copy.deepcopy(op.get("value"))
    if isinstance(parent, dict):
        if kind == "remove":
            if last not in parent:
                raise bad_request(f"{where}: path {op['path']!r} does not exist", field="path")
            del parent[last]
        else:
            parent[last] = value
        return
    if isinstance(parent, list):
        try:
            if kind == "add":
                parent.insert(len(parent) if last == "-" else int(last), value)
            elif kind == "replace":
                parent[int(last)] = value
            else:
                del parent[int(last)]
        except (ValueError, IndexError) as exc:
            raise bad_request(f"{where}: bad array index in {op['path']!r}", field="path") from exc
        return
    raise bad_request(f"{where}: path {op['path']!r} does not exist", field="path")
