"""In-memory state: clock, IMS clients and tokens, per-sandbox resources, property filters and paging."""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from airflow_provider_aep.testing.errors import bad_request, flow_error

KINDS = ("connections", "sourceConnections", "targetConnections", "flows", "runs", "mappingSets")


class Clock:
    """Emulated clock: real time plus an offset moved by ``advance``."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def new_etag() -> str:
    """A fresh quoted etag, e.g. ``"\\"3f2a...\\""``."""
    return f'"{uuid.uuid4().hex}"'


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    org_id: str


@dataclass(frozen=True)
class Token:
    client_id: str
    org_id: str
    expires_at: float


class AuthRegistry:
    """IMS clients and the opaque access tokens issued to them."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        self.tokens: dict[str, Token] = {}
        self.issued = 0
        self._lock = threading.Lock()

    def add_client(self, client_id: str, client_secret: str, org_id: str) -> None:
        with self._lock:
            self.clients[client_id] = Client(client_id, client_secret, org_id)

    def issue(self, client: Client, now: float, ttl: int) -> str:
        token = "eyJ" + secrets.token_urlsafe(48)
        with self._lock:
            self.tokens[token] = Token(client.client_id, client.org_id, now + ttl)
            self.issued += 1
        return token

    def lookup(self, token: str, now: float) -> Token | None:
        with self._lock:
            found = self.tokens.get(token)
        if found is None or found.expires_at <= now:
            return None
        return found

    def expire_all(self) -> None:
        with self._lock:
            self.tokens.clear()

    def reset(self) -> None:
        with self._lock:
            self.tokens.clear()
            self.issued = 0


class Store:
    """Resources per sandbox and kind, in creation order. Callers hold ``lock`` across a request."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._data: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._seq: dict[str, int] = {}
        self._counter = 0

    def _bucket(self, sandbox: str, kind: str) -> dict[str, dict[str, Any]]:
        return self._data.setdefault(sandbox, {}).setdefault(kind, {})

    def insert(self, sandbox: str, kind: str, resource: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._counter += 1
            self._seq[resource["id"]] = self._counter
            self._bucket(sandbox, kind)[resource["id"]] = resource
        return resource

    def get(self, sandbox: str, kind: str, rid: str) -> dict[str, Any] | None:
        return self._bucket(sandbox, kind).get(rid)

    def delete(self, sandbox: str, kind: str, rid: str) -> None:
        with self.lock:
            self._bucket(sandbox, kind).pop(rid, None)
            self._seq.pop(rid, None)

    def items(self, sandbox: str, kind: str) -> list[dict[str, Any]]:
        return list(self._bucket(sandbox, kind).values())

    def all(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(sandbox, resource) pairs of one kind in every sandbox, in creation order."""
        with self.lock:
            pairs = [(sb, res) for sb, kinds in self._data.items() for res in kinds.get(kind, {}).values()]
            return sorted(pairs, key=lambda pair: self.seq(pair[1]["id"]))

    def seq(self, rid: str) -> int:
        return self._seq.get(rid, 0)

    def clear(self) -> None:
        with self.lock:
            self._data.clear()
            self._seq.clear()


# --- property filters -----------------------------------------------------------------------------

_CLAUSE = re.compile(r"^\s*([A-Za-z0-9_.\[\]@:$-]+?)\s*(==|!=|<=|>=|<|>|~)\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Clause:
    path: str
    op: str  # one of == != <= >= < > ~ exists
    values: tuple[str, ...]


def parse_property(value: str) -> Clause:
    """Parse one ``property=`` value: ``name==a,b`` (comma = any of), ``x!=y``, or a bare path (exists)."""
    match = _CLAUSE.match(value)
    if match is None:
        path = value.strip()
        if not path or not re.fullmatch(r"[A-Za-z0-9_.\[\]@:$-]+", path):
            raise bad_request(f"Invalid property filter {value!r}", field="property")
        return Clause(path, "exists", ())
    path, op, raw = match.groups()
    values = tuple(_unquote(part.strip()) for part in raw.split(","))
    return Clause(path, op, values)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def resolve(resource: Any, path: str) -> list[Any]:
    """All values at a dotted path; ``items[]`` steps into every array element."""
    current = [resource]
    for part in path.split("."):
        key = part.removesuffix("[]")
        found: list[Any] = []
        for item in current:
            if isinstance(item, dict) and key in item:
                value = item[key]
                if isinstance(value, list):
                    found.extend(value)
                else:
                    found.append(value)
        current = found
    return current


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if isinstance(actual, bool):
        left: Any = str(actual).lower()
        right: Any = wanted.lower()
    elif isinstance(actual, int | float):
        try:
            left, right = actual, float(wanted)
        except ValueError:
            return False
    elif isinstance(actual, str):
        left, right = actual, wanted
    else:
        return False
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "~":
        return str(right).lower() in str(left).lower()
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False


def matches(resource: dict[str, Any], clause: Clause) -> bool:
    values = resolve(resource, clause.path)
    if clause.op == "exists":
        return any(v is not None for v in values)
    if clause.op == "!=":
        return all(not any(_compare(v, "==", w) for w in clause.values) for v in values)
    return any(_compare(v, clause.op, w) for v in values for w in clause.values)


# --- paging ---------------------------------------------------------------------------------------


def _encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if not isinstance(data, dict) or not isinstance(data.get("q"), dict):
            raise ValueError
        return data
    except (ValueError, UnicodeError) as exc:
        raise bad_request("Invalid continuationToken", field="continuationToken") from exc


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value).lower())


def query_int(query: dict[str, list[str]], name: str, default: int, *, minimum: int) -> int:
    """A whole-number query parameter (the last one given), checked against ``minimum``."""
    raw = query.get(name, [None])[-1]
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise bad_request(f"{name} must be {kind}", field=name)
    return int(raw)


def list_page(
    resources: list[dict[str, Any]],
    query: dict[str, list[str]],
    *,
    href_base: str,
    default_limit: int,
    seq: Any,
) -> dict[str, Any]:
    """Filter, order and page ``resources`` per the Flow Service list query parameters."""
    properties = sorted(set(query.get("property", [])))
    orderby = query.get("orderby", [""])[-1]
    count = query.get("count", ["false"])[-1].lower() == "true"
    limit_raw = query.get("limit", [None])[-1]
    if count and limit_raw is not None:
        raise flow_error("1401-400", "The limit and count query parameters cannot be used together.", field="limit")
    limit = query_int(query, "limit", default_limit, minimum=1)
    token = query.get("continuationToken", [None])[-1]
    state: dict[str, Any] = {}
    if token:
        state = _decode_token(token)
        wanted = {"property": properties, "orderby": orderby}
        if not properties and not orderby:
            properties, orderby = list(state["q"].get("property", [])), state["q"].get("orderby", "")
        elif state["q"] != wanted:
            raise bad_request(
                "continuationToken does not match the property/orderby parameters", field="continuationToken"
            )
    clauses = [parse_property(p) for p in properties]
    selected = [r for r in resources if all(matches(r, c) for c in clauses)]
    if count:
        return {"count": len(selected)}
    selected.sort(key=lambda r: seq(r["id"]))
    if orderby:
        descending = orderby.startswith("-")
        field = orderby.lstrip("+-").strip()
        selected.sort(key=lambda r: _sort_key(next(iter(resolve(r, field)), None)), reverse=descending)
    start = 0
    if state:
        ids = [r["id"] for r in selected]
        after = state.get("after")
        start = ids.index(after) + 1 if after in ids else int(state.get("offset", 0))
    page = selected[start : start + limit]
    body: dict[str, Any] = {"items": copy.deepcopy(page)}
    if start + limit < len(selected) and page:
        next_token = _encode_token(
            {"q": {"property": properties, "orderby": orderby}, "after": page[-1]["id"], "offset": start + limit}
        )
        body["_links"] = {"next": {"href": f"{href_base}?limit={limit}&continuationToken={next_token}"}}
    return body
