"""Turn a simple Python row filter into Adobe's PQL JSON, and Base64 for ``explore`` queries.

Accepted forms::

    {"city": "DDN"}                                   # equality; several keys are ANDed
    ("loyalty_points", ">", 100)                      # (column, operator, value)
    [("city", "in", ["DDN", "NYC"]), ("email", "like", "%@acme.com")]   # a list is ANDed
    {"or": [...]}, {"and": [...]}, {"not": <filter>}
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

from airflow_provider_aep.exceptions import AepInputError

COMPARISONS = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "like": "like"}
LOGICAL = ("and", "or", "not")
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_DEPTH = 32


def build_pql(row_filter: Any, field: str = "row_filter") -> dict[str, Any]:
    """The full PQL document Adobe expects: ``{"type": "PQL", "format": "pql/json", "value": ...}``."""
    return {"type": "PQL", "format": "pql/json", "value": _node(row_filter, field, 0)}


def encode_pql(row_filter: Any, field: str = "row_filter") -> str:
    """Standard Base64 of the PQL JSON, for the ``filters`` query parameter of explore."""
    text = json.dumps(build_pql(row_filter, field), separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _node(value: Any, field: str, depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise AepInputError(f"{field}: the filter is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, tuple):
        return _comparison(value, field)
    if isinstance(value, list):
        if not value:
            raise AepInputError(f"{field}: an empty list is not a filter; give at least one condition.")
        if len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], str) and _is_op(value[1]):
            return _comparison(tuple(value), field)
        return _combine("and", [_node(v, field, depth + 1) for v in value])
    if isinstance(value, dict):
        if not value:
            raise AepInputError(f"{field}: an empty dict is not a filter.")
        logical = [k for k in value if isinstance(k, str) and k.lower() in LOGICAL]
        if logical:
            if len(value) != 1:
                raise AepInputError(f"{field}: {logical[0]!r} must be the only key of its dict.")
            op = logical[0].lower()
            inner = value[logical[0]]
            if op == "not":
                return {"nodeType": "fnApply", "fnName": "not", "params": [_node(inner, field, depth + 1)]}
            if (
                not isinstance(inner, list | tuple)
                or not inner
                or (isinstance(inner, tuple) and _looks_like_condition(inner))
            ):
                raise AepInputError(f"{field}: {op!r} takes a non-empty list of conditions.")
            return _combine(op, [_node(v, field, depth + 1) for v in inner])
        return _combine("and", [_comparison((k, "=", v), field) for k, v in value.items()])
    raise AepInputError(
        f"{field}: expected a dict, a (column, operator, value) tuple or a list of them, got {type(value).__name__}."
    )


def _looks_like_condition(value: tuple[Any, ...]) -> bool:
    return len(value) == 3 and isinstance(value[1], str) and _is_op(value[1])


def _is_op(text: str) -> bool:
    return text.lower() in COMPARISONS or text.lower() in ("in", "not in")


def _combine(op: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    if len(nodes) == 1:
        return nodes[0]
    return {"nodeType": "fnApply", "fnName": op, "params": nodes}


def _comparison(condition: tuple[Any, ...], field: str) -> dict[str, Any]:
    if len(condition) != 3:
        raise AepInputError(f"{field}: a condition is (column, operator, value), got {len(condition)} items.")
    column, op, value = condition
    if not isinstance(column, str) or not _COLUMN_RE.match(column):
        raise AepInputError(f"{field}: {column!r} is not a column name (letters, digits, underscores).")
    if not isinstance(op, str) or not _is_op(op):
        allowed = ", ".join([*COMPARISONS, "in", "not in"])
        raise AepInputError(f"{field}: unknown operator {op!r} for column {column!r}; use one of {allowed}.")
    lookup = {"nodeType": "fieldLookup", "fieldName": column}
    op = op.lower()
    if op in ("in", "not in"):
        if not isinstance(value, list | tuple | set | frozenset) or not value:
            raise AepInputError(f"{field}: {op!r} on {column!r} needs a non-empty list of values.")
        # a set has no order of its own: sort it, so the same filter gives the same PQL in every process
        values = sorted(value, key=repr) if isinstance(value, set | frozenset) else [*value]
        node = {"nodeType": "fnApply", "fnName": "in", "params": [lookup, _literal(values, column, field)]}
        return {"nodeType": "fnApply", "fnName": "not", "params": [node]} if op == "not in" else node
    if isinstance(value, list | tuple | set | frozenset):
        # '=' against a list compares the column with the whole list and silently matches nothing.
        raise AepInputError(
            f"{field}: {op!r} on {column!r} takes one value, got a list; "
            f"to match any of several values use ({column!r}, 'in', [...])."
        )
    if op == "like" and not isinstance(value, str):
        raise AepInputError(f"{field}: 'like' on {column!r} needs a text pattern such as '%@acme.com'.")
    return {"nodeType": "fnApply", "fnName": COMPARISONS[op], "params": [lookup, _literal(value, column, field)]}


def _literal(value: Any, column: str, field: str) -> dict[str, Any]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not (item is None or isinstance(item, str | int | float | bool)) or (
            isinstance(item, float) and not math.isfinite(item)
        ):
            raise AepInputError(
                f"{field}: the value for {column!r} must be text, a finite number, a boolean or None, "
                f"got {type(item).__name__}."
            )
    return {"nodeType": "literal", "value": value}
