"""The row-filter builder: each accepted form gives Adobe's PQL JSON; bad filters name ``row_filter``."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.testing.catalog import compile_pql, decode_filters, default_tables
from airflow_provider_aep.utils.pql import build_pql, encode_pql

# The example of the reference (§5), byte for byte.
REFERENCE_EXAMPLE = (
    '{"type":"PQL","format":"pql/json","value":{"nodeType":"fnApply","fnName":"=","params":'
    '[{"nodeType":"fieldLookup","fieldName":"city"},{"nodeType":"literal","value":"DDN"}]}}'
)


def field(name):
    return {"nodeType": "fieldLookup", "fieldName": name}


def lit(value):
    return {"nodeType": "literal", "value": value}


def fn(name, *params):
    return {"nodeType": "fnApply", "fnName": name, "params": list(params)}


def pql(value):
    return {"type": "PQL", "format": "pql/json", "value": value}


def test_equality_dict_is_the_reference_example():
    assert build_pql({"city": "DDN"}) == json.loads(REFERENCE_EXAMPLE)
    assert json.dumps(build_pql({"city": "DDN"}), separators=(",", ":")) == REFERENCE_EXAMPLE


@pytest.mark.parametrize(
    ("row_filter", "expected"),
    [
        ({"city": "DDN"}, fn("=", field("city"), lit("DDN"))),
        (("city", "=", "DDN"), fn("=", field("city"), lit("DDN"))),
        (("city", "==", "DDN"), fn("=", field("city"), lit("DDN"))),
        (["city", "=", "DDN"], fn("=", field("city"), lit("DDN"))),
        (("loyalty_points", ">", 100), fn(">", field("loyalty_points"), lit(100))),
        (("loyalty_points", ">=", 0), fn(">=", field("loyalty_points"), lit(0))),
        (("loyalty_points", "<", 1.5), fn("<", field("loyalty_points"), lit(1.5))),
        (("loyalty_points", "<=", 7), fn("<=", field("loyalty_points"), lit(7))),
        (("city", "!=", "DDN"), fn("!=", field("city"), lit("DDN"))),
        (("email", "like", "%@acme.com"), fn("like", field("email"), lit("%@acme.com"))),
        (("email", "LIKE", "%@acme.com"), fn("like", field("email"), lit("%@acme.com"))),
        (("active", "=", True), fn("=", field("active"), lit(True))),
        (("city", "in", ["DDN", "NYC"]), fn("in", field("city"), lit(["DDN", "NYC"]))),
        (("city", "in", ("DDN",)), fn("in", field("city"), lit(["DDN"]))),
        (("city", "not in", ["DDN"]), fn("not", fn("in", field("city"), lit(["DDN"])))),
        (
            {"city": "DDN", "first_name": "Ana"},
            fn("and", fn("=", field("city"), lit("DDN")), fn("=", field("first_name"), lit("Ana"))),
        ),
        (
            [("city", "in", ["DDN", "NYC"]), ("email", "like", "%@acme.com")],
            fn("and", fn("in", field("city"), lit(["DDN", "NYC"])), fn("like", field("email"), lit("%@acme.com"))),
        ),
        ([("city", "=", "DDN")], fn("=", field("city"), lit("DDN"))),
        (
            {"or": [("city", "=", "DDN"), ("loyalty_points", ">", 100)]},
            fn("or", fn("=", field("city"), lit("DDN")), fn(">", field("loyalty_points"), lit(100))),
        ),
        (
            {"and": [{"city": "DDN"}, ("loyalty_points", ">", 100)]},
            fn("and", fn("=", field("city"), lit("DDN")), fn(">", field("loyalty_points"), lit(100))),
        ),
        ({"not": ("city", "=", "DDN")}, fn("not", fn("=", field("city"), lit("DDN")))),
        ({"NOT": {"city": "DDN"}}, fn("not", fn("=", field("city"), lit("DDN")))),
        (
            {"or": [{"not": {"city": "DDN"}}, {"and": [("a", "=", 1), ("b", "=", 2)]}]},
            fn(
                "or",
                fn("not", fn("=", field("city"), lit("DDN"))),
                fn("and", fn("=", field("a"), lit(1)), fn("=", field("b"), lit(2))),
            ),
        ),
        (("profile.city", "=", "DDN"), fn("=", field("profile.city"), lit("DDN"))),
    ],
)
def test_accepted_forms(row_filter, expected):
    assert build_pql(row_filter) == pql(expected)


def test_base64_round_trip():
    row_filter = [("city", "in", ["DDN", "Nöida"]), ("email", "like", "%@example.com")]
    encoded = encode_pql(row_filter)
    # Standard Base64 (not URL-safe), strictly decodable, of compact UTF-8 JSON.
    decoded = base64.b64decode(encoded, validate=True)
    assert json.loads(decoded.decode("utf-8")) == build_pql(row_filter)
    assert b" " not in decoded
    assert encode_pql({"city": "DDN"}) == base64.b64encode(REFERENCE_EXAMPLE.encode()).decode()
    # The emulator decodes it the way Adobe does.
    assert decode_filters(encoded) == build_pql(row_filter)


def test_filters_select_the_expected_rows_in_the_emulator():
    table = default_tables()["crm.customers"]
    columns = [c["name"] for c in table["columns"]]

    def ids(row_filter):
        predicate = compile_pql(build_pql(row_filter), columns)
        return [r["customer_id"] for r in table["rows"] if predicate(r)]

    assert ids({"city": "DDN"}) == ["c-001", "c-003", "c-006"]
    assert ids([("city", "=", "DDN"), ("loyalty_points", ">", 200)]) == ["c-003", "c-006"]
    assert ids({"or": [("city", "=", "Delhi"), ("loyalty_points", ">=", 500)]}) == ["c-002", "c-006"]
    assert ids(("city", "not in", ["DDN", "Delhi"])) == ["c-004", "c-005"]
    assert ids(("email", "like", "%a@example.com")) == ["c-001", "c-005"]
    assert ids({"not": {"city": "DDN"}}) == ["c-002", "c-004", "c-005"]


@pytest.mark.parametrize(
    ("row_filter", "words"),
    [
        ("city = 'DDN'", "got str"),
        (42, "got int"),
        (None, "got NoneType"),
        ({}, "empty dict"),
        ([], "empty list"),
        (("city", "DDN"), "2 items"),
        (("city", "~", "DDN"), "unknown operator"),
        (("1city", "=", "x"), "not a column name"),
        (("city; DROP TABLE", "=", "x"), "not a column name"),
        (("city", "in", []), "non-empty list"),
        (("city", "in", "DDN"), "non-empty list"),
        (("email", "like", 5), "text pattern"),
        (("points", ">", float("nan")), "finite number"),
        (("points", ">", float("inf")), "finite number"),
        (("points", "=", {"a": 1}), "must be text"),
        (("city", "in", [["nested"]]), "must be text"),
        ({"or": []}, "non-empty list"),
        ({"or": ("city", "=", "DDN")}, "non-empty list"),
        ({"or": "city"}, "non-empty list"),
        ({"and": [("a", "=", 1)], "city": "DDN"}, "only key"),
        # A list value with '=' would compare a column to a list and silently match nothing.
        ({"city": ["DDN", "NYC"]}, "'in'"),
        (("city", "=", ["DDN"]), "'in'"),
        (("city", "!=", ("DDN", "NYC")), "'in'"),
    ],
)
def test_rejected_filters_name_row_filter(row_filter, words):
    with pytest.raises(AepInputError) as info:
        build_pql(row_filter)
    message = str(info.value)
    assert message.startswith("row_filter:"), message
    assert words in message, message
    with pytest.raises(AepInputError, match=r"^row_filter:"):
        encode_pql(row_filter)


def test_field_name_in_errors_follows_the_argument():
    with pytest.raises(AepInputError, match=r"^filters:"):
        build_pql(42, field="filters")


def test_too_deep_nesting_is_rejected():
    deep = ("a", "=", 1)
    for _ in range(40):
        deep = {"not": deep}
    with pytest.raises(AepInputError, match=r"row_filter: .*nested more than"):
        build_pql(deep)


def test_a_set_of_values_gives_the_same_pql_in_every_process():
    """String hashing differs per process: a set's order must not leak into the filter Adobe stores."""
    import subprocess
    import sys

    code = (
        "from airflow_provider_aep.utils.pql import encode_pql;"
        "print(encode_pql(('city', 'in', {'NYC', 'DDN', 'SFO', 'LAX', 'BOS', 'SEA'})))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == encode_pql(("city", "in", ["BOS", "DDN", "LAX", "NYC", "SEA", "SFO"]))
