"""The schedule builder (``scheduleParams``) and its check against the flow spec the emulator serves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.utils.schedule import build_schedule, check_against_flow_spec, to_epoch_seconds

START = 1767225600  # 2026-01-01T00:00:00Z


def test_once():
    assert build_schedule("once", start_time=START) == {"frequency": "once", "startTime": START}
    assert build_schedule("ONCE", start_time=START, backfill=False) == {
        "frequency": "once",
        "startTime": START,
        "backfill": False,
    }


def test_once_defaults_to_the_given_start():
    assert build_schedule("once", default_start=START) == {"frequency": "once", "startTime": START}
    with pytest.raises(AepInputError, match=r"^start_time:"):
        build_schedule("once")


@pytest.mark.parametrize(
    ("frequency", "interval"), [("minute", 15), ("minute", 60), ("hour", 1), ("day", 1), ("week", 2)]
)
def test_repeating_frequencies(frequency, interval):
    assert build_schedule(frequency, interval=interval, start_time=START, backfill=True) == {
        "frequency": frequency,
        "startTime": START,
        "interval": interval,
        "backfill": True,
    }


@pytest.mark.parametrize(
    ("frequency", "interval", "words"),
    [
        ("minute", 14, "at least 15"),
        ("minute", 5, "at least 15"),
        ("hour", 0, "at least 1"),
        ("day", -1, "at least 1"),
        ("week", 0, "at least 1"),
        ("minute", None, "required"),
        ("hour", None, "required"),
        ("hour", True, "required"),
        ("hour", 1.5, "whole number"),
        ("hour", "two", "whole number"),
    ],
)
def test_bad_intervals(frequency, interval, words):
    with pytest.raises(AepInputError, match=rf"^interval: .*{words}"):
        build_schedule(frequency, interval=interval, start_time=START)


def test_interval_with_once_is_rejected():
    with pytest.raises(AepInputError, match=r"^interval: not used with frequency 'once'"):
        build_schedule("once", interval=15, start_time=START)


@pytest.mark.parametrize("frequency", ["monthly", "daily", "", None, 3])
def test_unknown_frequency(frequency):
    with pytest.raises(AepInputError, match=r"^frequency: must be one of once, minute, hour, day, week"):
        build_schedule(frequency, start_time=START)


@pytest.mark.parametrize("value", [START * 1000, str(START * 1000), 1767225600000.0])
def test_epoch_milliseconds_rejected(value):
    with pytest.raises(AepInputError, match=r"^start_time: .*epoch milliseconds"):
        build_schedule("once", start_time=value)


@pytest.mark.parametrize(
    "value", [datetime(2026, 1, 1), "2026-01-01T00:00:00", "2026-01-01", pendulum.naive(2026, 1, 1)]
)
def test_naive_datetime_rejected(value):
    with pytest.raises(AepInputError, match=r"^start_time: .*no timezone"):
        build_schedule("once", start_time=value)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T05:30:00+05:30",
        " 2026-01-01T00:00:00.000Z ",
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        pendulum.datetime(2026, 1, 1, tz="UTC"),
        pendulum.datetime(2025, 12, 31, 19, tz="America/New_York"),
        START,
        float(START),
        str(START),
    ],
)
def test_accepted_start_times(value):
    schedule = build_schedule("once", start_time=value)
    assert schedule["startTime"] == START
    assert type(schedule["startTime"]) is int


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("next tuesday", "neither ISO-8601"),
        (-5, "cannot be negative"),
        (True, "boolean"),
        ([START], "got list"),
        (pendulum.date(2026, 1, 1), "got Date"),
    ],
)
def test_other_bad_start_times(value, words):
    with pytest.raises(AepInputError, match=rf"^start_time: .*{words}"):
        build_schedule("once", start_time=value)


@pytest.mark.parametrize("backfill", ["false", "no", 0, 1, "true"])
def test_backfill_must_be_a_boolean(backfill):
    # bool("false") is True: a text value would silently turn a historical backfill on.
    with pytest.raises(AepInputError, match=r"^backfill:"):
        build_schedule("hour", interval=1, start_time=START, backfill=backfill)


def test_to_epoch_seconds_names_the_field():
    with pytest.raises(AepInputError, match=r"^window_end:"):
        to_epoch_seconds("soon", "window_end")


# ----------------------------------------------------------------------- against the emulator's flow spec
@pytest.fixture
def crm_to_aep_spec(aep):
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    hook = AdobeExperiencePlatformHook()
    spec = hook.get_flow_spec(hook.get_flow_spec_id("CRMToAEP"))
    assert spec["id"] == "14518937-270c-4525-bdec-c2ba7cce3860"
    assert spec["scheduleSpec"]["spec"]["required"] == ["startTime", "frequency"]
    return spec


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frequency": "once"},
        {"frequency": "once", "backfill": True},
        {"frequency": "minute", "interval": 15},
        {"frequency": "hour", "interval": 1},
        {"frequency": "day", "interval": 3, "backfill": False},
        {"frequency": "week", "interval": 1},
    ],
)
def test_built_schedules_pass_the_flow_spec_schema(crm_to_aep_spec, kwargs):
    schedule = build_schedule(kwargs.pop("frequency"), start_time=START, **kwargs)
    check_against_flow_spec(schedule, crm_to_aep_spec)


@pytest.mark.parametrize(
    ("schedule", "where", "words"),
    [
        ({"frequency": "minute", "interval": 5, "startTime": START}, "interval", "less than the minimum of 15"),
        ({"frequency": "hour", "interval": 0, "startTime": START}, "interval", "less than the minimum of 1"),
        ({"frequency": "hour", "startTime": START}, "schedule", "'interval' is a required property"),
        ({"frequency": "monthly", "startTime": START}, "schedule", "frequency: 'monthly' is not one of"),
        ({"frequency": "once", "startTime": "2026-01-01"}, "startTime", "is not of type 'integer'"),
        ({"frequency": "once"}, "schedule", "'startTime' is a required property"),
        ({"frequency": "once", "startTime": START, "state": "enabled"}, "schedule", "Additional properties"),
    ],
)
def test_flow_spec_schema_rejects(crm_to_aep_spec, schedule, where, words):
    with pytest.raises(AepInputError) as info:
        check_against_flow_spec(schedule, crm_to_aep_spec)
    message = str(info.value)
    assert message.startswith(f"{where}: rejected by the rules of flow spec 'CRMToAEP'"), message
    assert words in message, message


def test_flow_spec_without_a_schema_checks_nothing():
    check_against_flow_spec({"frequency": "whatever"}, {"name": "NoSchedule"})
    check_against_flow_spec({"frequency": "whatever"}, {"name": "X", "scheduleSpec": {"spec": None}})
