"""A fake BigQuery catalog (tables, schema, preview rows) and PQL/JSON filter evaluation."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_XDM_TYPES: dict[str, dict[str, str]] = {
    "STRING": {"type": "string"},
    "INT64": {"type": "integer"},
    "INTEGER": {"type": "integer"},
    "FLOAT64": {"type": "number"},
    "FLOAT": {"type": "number"},
    "NUMERIC": {"type": "number"},
    "BOOL": {"type": "boolean"},
    "BOOLEAN": {"type": "boolean"},
    "TIMESTAMP": {"type": "string", "format": "date-time"},
    "DATETIME": {"type": "string", "format": "date-time"},
    "DATE": {"type": "string", "format": "date"},
}
_META_XDM = {"integer": "long", "number": "number", "boolean": "boolean", "string": "string"}


def default_tables() -> dict[str, dict[str, Any]]:
    """The default catalog: dataset ``crm`` with ``customers`` and ``orders``."""
    customers = [
        ("c-001", "ana@example.com", "Ana", "DDN", 120, "2024-01-05T10:00:00Z"),
        ("c-002", "bo@example.com", "Bo", "Delhi", 40, "2024-01-06T11:30:00Z"),
        ("c-003", "chen@example.com", "Chen", "DDN", 300, "2024-01-07T09:15:00Z"),
        ("c-004", "dev@example.com", "Dev", "Mumbai", 0, "2024-01-08T16:45:00Z"),
        ("c-005", "eva@example.com", "Eva", "Noida", 75, "2024-01-09T08:00:00Z"),
        ("c-006", "farid@example.com", "Farid", "DDN", 510, "2024-01-10T12:00:00Z"),
    ]
    orders = [
        ("o-1001", "c-001", 19.99, "2024-01-05T10:05:00Z"),
        ("o-1002", "c-003", 250.0, "2024-01-07T09:20:00Z"),
        ("o-1003", "c-003", 12.5, "2024-01-08T10:00:00Z"),
        ("o-1004", "c-006", 99.0, "2024-01-10T12:10:00Z"),
    ]
    cust_cols = ["customer_id", "email", "first_name", "city", "loyalty_points", "updated_at"]
    order_cols = ["order_id", "customer_id", "amount", "created_at"]
    return {
        "crm.customers": {
            "columns": [
                {"name": "customer_id", "type": "STRING"},
                {"name": "email", "type": "STRING"},
                {"name": "first_name", "type": "STRING"},
                {"name": "city", "type": "STRING"},
                {"name": "loyalty_points", "type": "INT64"},
                {"name": "updated_at", "type": "TIMESTAMP"},
            ],
            "rows": [dict(zip(cust_cols, row, strict=True)) for row in customers],
        },
        "crm.orders": {
            "columns": [
                {"name": "order_id", "type": "STRING"},
                {"name": "customer_id", "type": "STRING"},
                {"name": "amount", "type": "FLOAT64"},
                {"name": "created_at", "type": "TIMESTAMP"},
            ],
            "rows": [dict(zip(order_cols, row, strict=True)) for row in orders],
        },
    }


class Catalog:
    """Tables keyed by ``dataset.table``, the same for every base connection."""

    def __init__(self, tables: dict[str, dict[str, Any]] | None = None) -> None:
        self.tables: dict[str, dict[str, Any]] = {}
        self.set(tables if tables is not None else default_tables())

    def set(self, tables: dict[str, dict[str, Any]]) -> None:
        """Replace the catalog after checking its shape."""
        checked: dict[str, dict[str, Any]] = {}
        for path, table in tables.items():
            if path.count(".") != 1 or not all(path.split(".")):
                raise ValueError(f"table key {path!r} must be 'dataset.table'")
            columns = table.get("columns")
            if not isinstance(columns, list) or not all(
                isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("type"), str)
                for c in columns
            ):
                raise ValueError(f"table {path!r} needs columns: [{{'name': ..., 'type': ...}}]")
            checked[path] = {"columns": copy.deepcopy(columns), "rows": copy.deepcopy(table.get("rows", []))}
        self.tables = checked

    def root(self) -> list[dict[str, Any]]:
        """The explore ``objectType=root`` listing."""
        return [
            {"type": "table", "name": path.split(".", 1)[1], "path": path, "canPreview": True, "canFetchSchema": True}
            for path in self.tables
        ]

    def columns(self, path: str) -> list[str] | None:
        table = self.tables.get(path)
        return None if table is None else [c["name"] for c in table["columns"]]

    def schema(self, path: str) -> dict[str, Any]:
        """The explore ``objectType=table`` body for an existing table."""
        cols = []
        for column in self.tables[path]["columns"]:
            xdm = dict(_XDM_TYPES.get(column["type"].upper(), {"type": "string"}))
            cols.append(
                {
                    "name": column["name"],
                    "type": xdm["type"],
                    "nativeType": column["type"],
                    "meta:xdmType": _META_XDM.get(xdm["type"], "string") if "format" not in xdm else xdm["format"],
                    "xdm": xdm,
                }
            )
        return {"format": "flat", "schema": {"columns": cols}}

    def rows(self, path: str, predicate: Predicate | None = None, limit: int = 100) -> list[Row]:
        """Preview rows, optionally filtered."""
        rows = [r for r in self.tables[path]["rows"] if predicate is None or predicate(r)]
        return copy.deepcopy(rows[:limit])


class PqlError(ValueError):
    """A malformed or unsupported PQL/JSON filter."""


def decode_filters(value: str) -> dict[str, Any]:
    """Decode the ``filters`` query parameter (standard Base64 of PQL JSON)."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
        parsed = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise PqlError("filters must be standard Base64 of a PQL JSON document") from exc
    if not isinstance(parsed, dict):
        raise PqlError("filters must decode to a JSON object")
    return parsed


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def compile_pql(document: Any, columns: list[str]) -> Predicate:
    """Compile ``{"type": "PQL", "format": "pql/json", "value": node}`` into a row predicate."""
    if not isinstance(document, dict):
        raise PqlError("filters must be a JSON object")
    if document.get("type") != "PQL" or document.get("format") != "pql/json" or "value" not in document:
        raise PqlError('filters must be {"type": "PQL", "format": "pql/json", "value": {...}}')
    return _compile_bool(document["value"], set(columns))


def _operand(node: Any, columns: set[str]) -> Callable[[Row], Any]:
    if not isinstance(node, dict):
        raise PqlError("filters: every PQL node must be an object")
    kind = node.get("nodeType")
    if kind == "fieldLookup":
        name = node.get("fieldName")
        if not isinstance(name, str) or name not in columns:
            raise PqlError(f"filters: unknown field {name!r}")
        return lambda row: row.get(name)
    if kind == "literal":
        if "value" not in node:
            raise PqlError("filters: literal node without value")
        value = node["value"]
        return lambda _row: value
    raise PqlError(f"filters: unsupported operand nodeType {kind!r}")


def _like(pattern: str) -> re.Pattern[str]:
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.DOTALL)


def _safe(fn: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return bool(fn(a, b))
    except TypeError:
        return False


def _compile_bool(node: Any, columns: set[str]) -> Predicate:
    if not isinstance(node, dict) or node.get("nodeType") != "fnApply":
        raise PqlError("filters: the PQL value must be an fnApply node")
    name = node.get("fnName")
    params = node.get("params")
    if not isinstance(params, list) or not params:
        raise PqlError(f"filters: fnApply {name!r} needs a non-empty params list")
    if name in ("and", "or"):
        subs = [_compile_bool(p, columns) for p in params]
        if name == "and":
            return lambda row: all(s(row) for s in subs)
        return lambda row: any(s(row) for s in subs)
    if name == "not":
        if len(params) != 1:
            raise PqlError("filters: 'not' takes exactly one param")
        sub = _compile_bool(params[0], columns)
        return lambda row: not sub(row)
    if name in _COMPARE:
        if len(params) != 2:
            raise PqlError(f"filters: {name!r} takes exactly two params")
        left, right = (_operand(p, columns) for p in params)
        fn = _COMPARE[name]
        return lambda row: _safe(fn, left(row), right(row))
    if name == "like":
        if len(params) != 2 or not isinstance(params[1], dict) or not isinstance(params[1].get("value"), str):
            raise PqlError("filters: 'like' takes a field and a string literal pattern")
        left = _operand(params[0], columns)
        regex = _like(params[1]["value"])
        return lambda row: isinstance(left(row), str) and regex.fullmatch(left(row)) is not None
    if name == "in":
        if len(params) < 2:
            raise PqlError("filters: 'in' takes a field and a list literal")
        left = _operand(params[0], columns)
        values: list[Any] = []
        for param in params[1:]:
            if not isinstance(param, dict) or param.get("nodeType") != "literal" or "value" not in param:
                raise PqlError("filters: 'in' takes a field and literal values")
            value = param["value"]
            values.extend(value if isinstance(value, list) else [value])
        return lambda row: left(row) in values
    raise PqlError(f"filters: unsupported fnName {name!r}")
