"""Property-based tests of the parsers of user input: no input makes them raise anything but
``AepInputError`` (or they return normally, with a value that makes sense).

Each property searches broadly; the input classes that still crash a parser are pinned by a separate
strict-xfail test with the exact inputs, so the properties stay green while the bugs stay visible.
"""

from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.hooks._settings import AepConnectionSettings
from airflow_provider_aep.utils import google_credentials
from airflow_provider_aep.utils.google_credentials import parse_service_account_key
from airflow_provider_aep.utils.identifiers import check_dataset_id, check_project_id
from airflow_provider_aep.utils.pql import build_pql, encode_pql
from airflow_provider_aep.utils.schedule import FREQUENCIES, build_schedule, to_epoch_seconds
from tests.helpers.keys import make_service_account_key

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = make_service_account_key(project_id="acme-crm-prod")
EPOCH_MS_THRESHOLD = 100_000_000_000


@contextmanager
def no_masking():
    """The masker rebuilds its pattern on every secret; hundreds of random 'keys' would only slow it down."""
    with mock.patch.object(google_credentials, "mask_secret", return_value=None):
        yield


def only_input_errors(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``func``; return its result, or the ``AepInputError`` it raised (anything else propagates)."""
    error: AepInputError | None = None
    try:
        return func(*args, **kwargs)
    except AepInputError as err:
        error = err
    assert str(error).strip(), "an AepInputError must say what is wrong"
    return error


# ------------------------------------------------------------------------------------------ strategies
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KEY_FIELDS = sorted(KEY)


@st.composite
def near_valid_keys(draw: Any) -> dict[str, Any]:
    """A real service-account key with a few fields dropped, replaced or damaged."""
    key = dict(KEY)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        name = draw(st.sampled_from([*KEY_FIELDS, "extra"]))
        action = draw(st.sampled_from(["drop", "replace", "damage_pem", "truncate_pem", "type"]))
        if action == "drop":
            key.pop(name, None)
        elif action == "replace":
            key[name] = draw(json_values)
        elif action == "damage_pem":
            body = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n"))
            key["private_key"] = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
        elif action == "truncate_pem":
            pem = KEY["private_key"]
            key["private_key"] = pem[: draw(st.integers(min_value=0, max_value=len(pem)))]
        else:
            key["type"] = draw(st.sampled_from(["authorized_user", "external_account", "", "SERVICE_ACCOUNT"]))
    return key


def b64(text: str, *, urlsafe: bool = False) -> str:
    raw = text.encode("utf-8")
    return (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode("ascii")


@st.composite
def key_texts(draw: Any) -> str | bytes:
    """A near-valid key as the text forms users give: JSON, Base64 (standard, URL-safe, wrapped, unpadded)."""
    text = json.dumps(draw(near_valid_keys()), indent=draw(st.sampled_from([None, 2])))
    form = draw(st.sampled_from(["json", "b64", "urlsafe", "wrapped", "unpadded", "bytes", "garbled"]))
    if form == "json":
        return text
    if form == "b64":
        return b64(text)
    if form == "urlsafe":
        return b64(text, urlsafe=True)
    if form == "wrapped":
        encoded = b64(text)
        return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    if form == "unpadded":
        return b64(text).rstrip("=")
    if form == "bytes":
        return text.encode("utf-8")
    encoded = b64(text)
    cut = draw(st.integers(min_value=0, max_value=len(encoded)))
    return encoded[:cut] + draw(st.text(max_size=3)) + encoded[cut:]


any_key_input = st.one_of(
    st.text(),
    st.binary(),
    st.dictionaries(st.text(max_size=12), json_values, max_size=6),
    near_valid_keys(),
    key_texts(),
    st.integers(),
    st.none(),
    st.lists(json_scalars, max_size=3),
)


# ------------------------------------------------------------------------------------------ service-account key
@PROPS
@given(value=any_key_input)
@example(value="")
@example(value="   ")
@example(value=b"\xff\xfe{")
@example(value="\ufeff" + json.dumps(KEY))
@example(value=json.dumps(KEY)[:-1])
@example(value="[1, 2]")
@example(value=b64("[1, 2]"))
@example(value=b64("not json"))
def test_parse_service_account_key_raises_only_input_errors(value: Any) -> None:
    with no_masking():
        result = only_input_errors(parse_service_account_key, value, "key_file_content")
    if not isinstance(result, AepInputError):
        assert result.info["type"] == "service_account"
        assert json.loads(result.json_text) == result.info
    else:
        # The message names the field and never quotes the key.
        assert str(result).startswith("key_file_content:")
        if isinstance(value, dict) and isinstance(value.get("private_key"), str) and len(value["private_key"]) > 40:
            assert value["private_key"] not in str(result)


@settings(PROPS, max_examples=60)
@given(
    extra=st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in KEY), json_scalars, max_size=3),
    form=st.sampled_from(["json", "b64", "urlsafe", "wrapped", "unpadded", "bytes", "dict"]),
    indent=st.sampled_from([None, 2]),
)
def test_every_accepted_key_form_round_trips_through_base64(extra: dict, form: str, indent: int | None) -> None:
    """Whatever form the key came in, Adobe gets standard Base64 of the very same JSON."""
    info = {**KEY, **extra}
    text = json.dumps(info, indent=indent)
    value: Any = {
        "json": text,
        "b64": b64(text),
        "urlsafe": b64(text, urlsafe=True),
        "wrapped": "\n".join(b64(text)[i : i + 64] for i in range(0, len(b64(text)), 64)),
        "unpadded": b64(text).rstrip("="),
        "bytes": text.encode("utf-8"),
        "dict": info,
    }[form]
    with no_masking():
        key = parse_service_account_key(value)
    assert key.info == info
    sent = key.as_base64()
    assert re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", sent), "keyFileContent must be standard, padded Base64"
    assert json.loads(base64.b64decode(sent, validate=True)) == info


@pytest.mark.parametrize(
    "value",
    [
        {**KEY, "private_key_id": b"\x00bytes"},
        {**KEY, ("tuple",): "key"},
        {**KEY, "created": datetime(2026, 1, 1, tzinfo=timezone.utc)},
        '{"a": ' + "[" * 100_000,
        b64('{"a": ' + "[" * 100_000),
    ],
    ids=["bytes-value", "tuple-key", "datetime-value", "deep-json", "deep-json-base64"],
)
def test_parse_service_account_key_bug_non_json_dict_and_deep_nesting(value: Any) -> None:
    with no_masking():
        only_input_errors(parse_service_account_key, value)


# ------------------------------------------------------------------------------------------ identifiers
@PROPS
@given(value=st.one_of(st.text(), st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True), json_values))
@example(value="my-project-123\n")
@example(value="MY-PROJECT")
@example(value="projet-é-123")
@example(value="a" * 31)
def test_check_project_id(value: Any) -> None:
    result = only_input_errors(check_project_id, value, "project_id")
    if not isinstance(result, AepInputError):
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", result), result
        assert result == value.strip()
    else:
        assert str(result).startswith("project_id:")


@PROPS
@given(value=st.one_of(st.text(), st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True), json_values))
@example(value="project.dataset")
@example(value="project:dataset")
@example(value="data set")
@example(value="ÄÖÜ")
@example(value="x" * 1025)
def test_check_dataset_id(value: Any) -> None:
    result = only_input_errors(check_dataset_id, value, "dataset_id")
    if not isinstance(result, AepInputError):
        assert re.fullmatch(r"[A-Za-z0-9_]{1,1024}", result), result
    else:
        assert str(result).startswith("dataset_id:")


# ------------------------------------------------------------------------------------------ schedules and windows
aware_datetimes = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(4000, 1, 1), timezones=st.timezones())


def _not_unicode_digits(text: str) -> bool:
    """Digit-only text outside ASCII ('¹', '²') is a known bug, pinned by test_schedule_bug_non_input_errors."""
    stripped = text.strip()
    return not (stripped.isdigit() and not stripped.isdecimal())


time_inputs = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=True),
    st.text().filter(_not_unicode_digits),
    st.text(alphabet="0123456789").map(lambda t: t[:14]),
    aware_datetimes,
    aware_datetimes.map(lambda d: d.isoformat()),
    st.datetimes(),  # naive
    st.booleans(),
    st.none(),
    json_values,
)


@PROPS
@given(value=time_inputs)
@example(value="2026-01-31T00:00:00Z")
@example(value=1_767_225_600_000)  # epoch milliseconds
@example(value=-1)
@example(value=float("inf"))
@example(value="1767225600")
def test_to_epoch_seconds(value: Any) -> None:
    result = only_input_errors(to_epoch_seconds, value, "window_start")
    if not isinstance(result, AepInputError):
        assert isinstance(result, int)
        assert 0 <= result < EPOCH_MS_THRESHOLD, result
    else:
        assert str(result).startswith("window_start:")


@PROPS
@given(
    frequency=st.one_of(st.sampled_from([*FREQUENCIES, "HOUR", "daily", ""]), st.text(max_size=8), json_scalars),
    interval=st.one_of(
        st.none(),
        st.integers(min_value=-5, max_value=10**12),
        st.floats(allow_nan=True, allow_infinity=False),
        st.booleans(),
        st.text(max_size=4),
    ),
    start_time=st.one_of(
        st.none(),
        aware_datetimes,
        st.integers(min_value=0, max_value=2**40),
        st.text(max_size=30).filter(_not_unicode_digits),
    ),
    backfill=st.one_of(st.none(), st.booleans(), json_scalars),
    default_start=st.one_of(st.none(), st.just(1_767_225_600)),
)
def test_build_schedule(frequency: Any, interval: Any, start_time: Any, backfill: Any, default_start: Any) -> None:
    result = only_input_errors(
        build_schedule,
        frequency,
        interval=interval,
        start_time=start_time,
        backfill=backfill,
        default_start=default_start,
    )
    if isinstance(result, AepInputError):
        return
    assert result["frequency"] in FREQUENCIES
    assert isinstance(result["startTime"], int) and result["startTime"] >= 0
    if result["frequency"] == "once":
        assert "interval" not in result
    else:
        assert isinstance(result["interval"], int)
        assert result["interval"] >= (15 if result["frequency"] == "minute" else 1)
    json.dumps(result)  # what goes to Adobe is JSON


@pytest.mark.parametrize(
    ("func", "args"),
    [
        (to_epoch_seconds, (float("nan"), "window_start")),
        (to_epoch_seconds, ("²", "window_start")),
        (lambda: build_schedule("hour", interval=float("inf"), start_time=0), ()),
    ],
    ids=["nan", "superscript-digit", "infinite-interval"],
)
def test_schedule_bug_non_input_errors(func: Any, args: tuple) -> None:
    result = only_input_errors(func, *args)
    assert isinstance(result, AepInputError)


@pytest.mark.parametrize(
    "value",
    [
        datetime(1969, 12, 31, tzinfo=timezone.utc),
        "0001-01-01T00:00:00+00:00",
        datetime(9999, 12, 31, tzinfo=timezone(timedelta(hours=-5))),
    ],
    ids=["1969", "year-1-iso", "year-9999"],
)
def test_to_epoch_seconds_bug_out_of_range_datetimes(value: Any) -> None:
    result = only_input_errors(to_epoch_seconds, value, "window_start")
    assert isinstance(result, AepInputError), result


# ------------------------------------------------------------------------------------------ PQL row filters
columns = st.one_of(st.sampled_from(["city", "loyalty_points", "a.b", "_x"]), st.text(max_size=8))
operators = st.one_of(
    st.sampled_from(["=", "==", "!=", "<", "<=", ">", ">=", "like", "LIKE", "in", "not in", "IN"]), st.text(max_size=4)
)
literals = st.one_of(
    json_scalars,
    st.floats(),
    st.lists(json_scalars, max_size=3),
    st.sets(st.integers(), max_size=3),
    st.binary(max_size=3),
)
conditions = st.tuples(columns, operators, literals)
filters = st.recursive(
    st.one_of(
        conditions,
        st.dictionaries(columns, literals, max_size=3),
        st.lists(st.one_of(columns, operators, literals), min_size=3, max_size=3),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["and", "or", "not", "AND", "Or"]), inner, min_size=1, max_size=2),
        st.dictionaries(st.sampled_from(["and", "or"]), st.tuples(inner, inner), min_size=1, max_size=1),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=10,
)


def _nest(depth: int) -> Any:
    node: Any = ("city", "=", "DDN")
    for _ in range(depth):
        node = {"not": node}
    return node


@PROPS
@given(row_filter=st.one_of(filters, json_values, st.integers(), st.sets(st.text(max_size=2), max_size=2)))
@example(row_filter=_nest(40))
@example(row_filter=[[[[[[("city", "=", "x")]]]]]])
@example(row_filter={"or": ("city", "=", "x")})
@example(row_filter=("city", "in", []))
@example(row_filter=("city", "=", float("nan")))
@example(row_filter={"and": [], "city": 1})
def test_build_and_encode_pql(row_filter: Any) -> None:
    result = only_input_errors(build_pql, row_filter)
    if isinstance(result, AepInputError):
        assert str(result).startswith("row_filter:")
        return
    assert result["type"] == "PQL" and result["format"] == "pql/json"
    text = json.dumps(result, allow_nan=False)  # finite, JSON-safe literals only
    encoded = encode_pql(row_filter)
    assert json.loads(base64.b64decode(encoded, validate=True)) == json.loads(text)


# ------------------------------------------------------------------------------------------ connection settings
EXTRA_FIELDS = [
    "org_id",
    "sandbox_name",
    "cloud",
    "scopes",
    "ims_url",
    "timeout",
    "max_retries",
    "backoff_base",
    "retry_deadline",
]
extra_names = st.one_of(
    st.sampled_from(EXTRA_FIELDS),
    st.sampled_from(EXTRA_FIELDS).map(lambda n: f"extra__adobe_experience_platform__{n}"),
    st.text(max_size=8),
)
finite_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**6), max_value=10**6),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
        st.text(max_size=30),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
good_values = {
    "org_id": st.sampled_from(["0123ABCD@AdobeOrg", " 0123ABCD@AdobeOrg ", "x@adobeorg", "ABC@AdobeOrg\n"]),
    "sandbox_name": st.sampled_from(["prod", "dev-2", "Prod", "", "a" * 300]),
    "ims_url": st.sampled_from(["https://ims-na1.adobelogin.com", "ims.example.com:8443", "ftp://x", "http://"]),
    "timeout": st.one_of(st.sampled_from(["30", "0", "-1", "1e3", "abc"]), st.floats(-10, 100)),
    "max_retries": st.one_of(st.sampled_from(["5", "2.5", "-1", ""]), st.integers(-3, 50), st.floats(0, 10)),
}
hosts = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://platform.adobe.io",
            "platform-stage.adobe.io",
            "http://127.0.0.1:8080/base/",
            "https://user:pw@platform.adobe.io",
            "https://platform.adobe.io?x=1",
            "https://:80",
            "mailto:x",
        ]
    ),
    st.text(max_size=30).filter(lambda t: "[" not in t and "]" not in t),
)


@st.composite
def fake_connections(draw: Any) -> SimpleNamespace:
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["org_id"] = "0123ABCD@AdobeOrg"
    for name in draw(st.lists(extra_names, max_size=5)):
        plain = name.rsplit("__", 1)[-1]
        strategy = good_values.get(plain)
        extra[name] = draw(strategy | finite_json if strategy is not None else finite_json)
    extra_dejson = draw(st.one_of(st.just(extra), st.just(extra), st.just(None), finite_json))
    return SimpleNamespace(
        conn_id=draw(st.one_of(st.none(), st.text(max_size=10))),
        login=draw(st.one_of(st.none(), st.just("aep-client-id"), st.text(max_size=10))),
        password=draw(st.one_of(st.none(), st.just("s3cret-value"), st.text(max_size=10))),
        host=draw(hosts),
        port=draw(st.one_of(st.none(), st.integers(-1, 70000), st.text(max_size=5))),
        extra_dejson=extra_dejson,
    )


@PROPS
@given(conn=fake_connections())
def test_connection_settings_from_any_connection(conn: SimpleNamespace) -> None:
    result = only_input_errors(AepConnectionSettings.from_connection, conn)
    if isinstance(result, AepInputError):
        assert "s3cret-value" not in str(result)
        return
    assert result.platform_url.startswith(("http://", "https://"))
    assert result.ims_url.startswith(("http://", "https://"))
    assert re.fullmatch(r"[A-Za-z0-9]+@AdobeOrg", result.org_id)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,255}", result.sandbox_name)
    assert result.timeout > 0 and result.max_retries >= 0 and result.backoff_base >= 0
    assert "s3cret-value" not in repr(result)


def _conn(host: Any = None, **extra: Any) -> SimpleNamespace:
    return SimpleNamespace(
        conn_id="aep_default",
        login="aep-client-id",
        password="s3cret-value",
        host=host,
        port=None,
        extra_dejson={"org_id": "0123ABCD@AdobeOrg", **extra},
    )


@pytest.mark.parametrize(
    "conn",
    [_conn("http://[::1"), _conn(ims_url="http://[zz]"), _conn(max_retries=float("inf"))],
    ids=["unclosed-ipv6-host", "bad-ipv6-ims-url", "infinite-max-retries"],
)
def test_connection_settings_bug_non_input_errors(conn: SimpleNamespace) -> None:
    result = only_input_errors(AepConnectionSettings.from_connection, conn)
    assert isinstance(result, AepInputError)


@pytest.mark.parametrize("name", ["timeout", "backoff_base", "retry_deadline"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_connection_settings_bug_non_finite_numbers(name: str, value: str) -> None:
    result = only_input_errors(AepConnectionSettings.from_connection, _conn(**{name: value}))
    assert isinstance(result, AepInputError), f"{name}={value} accepted: {getattr(result, name)}"
