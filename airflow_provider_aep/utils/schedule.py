"""Dataflow schedules: user input to Adobe's ``scheduleParams``, checked against the flow spec's rules."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from airflow_provider_aep.exceptions import AepInputError

FREQUENCIES = ("once", "minute", "hour", "day", "week")
MIN_INTERVAL = {"minute": 15, "hour": 1, "day": 1, "week": 1}
_EPOCH_MS_THRESHOLD = 100_000_000_000  # epoch seconds stay below this until the year 5138


def to_epoch_seconds(value: Any, field: str) -> int:
    """A timezone-aware datetime, ISO-8601 text or epoch seconds → epoch seconds."""
    if isinstance(value, bool):
        raise AepInputError(f"{field}: expected a datetime or epoch seconds, got a boolean.")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise AepInputError(f"{field}: epoch seconds must be a finite number, got {value}.")
        if value >= _EPOCH_MS_THRESHOLD:
            raise AepInputError(f"{field}: {value} looks like epoch milliseconds; Adobe wants epoch seconds.")
        if value < 0:
            raise AepInputError(f"{field}: epoch seconds cannot be negative, got {value}.")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdecimal():
            return to_epoch_seconds(int(text), field)
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise AepInputError(
                f"{field}: {value!r} is neither ISO-8601 (2026-01-31T00:00:00+00:00) nor epoch seconds."
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise AepInputError(
                f"{field}: the datetime {value.isoformat()} has no timezone; give an aware datetime "
                "(e.g. pendulum.datetime(2026, 1, 31, tz='UTC')) so the window is not ambiguous."
            )
        try:
            seconds = int(value.timestamp())
        except (OverflowError, OSError, ValueError):
            raise AepInputError(f"{field}: the datetime {value.isoformat()} is out of range.") from None
        return to_epoch_seconds(seconds, field)  # the same range checks as for numbers
    raise AepInputError(f"{field}: expected a datetime, ISO-8601 text or epoch seconds, got {type(value).__name__}.")


def build_schedule(
    frequency: str,
    *,
    interval: int | None = None,
    start_time: Any = None,
    backfill: bool | None = None,
    default_start: int | None = None,
) -> dict[str, Any]:
    """``scheduleParams`` for a flow, checked by the rules of the CRMToAEP flow spec."""
    if not isinstance(frequency, str) or frequency.lower() not in FREQUENCIES:
        raise AepInputError(f"frequency: must be one of {', '.join(FREQUENCIES)}, got {frequency!r}.")
    frequency = frequency.lower()
    params: dict[str, Any] = {"frequency": frequency}
    if start_time is None:
        if default_start is None:
            raise AepInputError("start_time: a start time is required (datetime or epoch seconds).")
        params["startTime"] = default_start
    else:
        params["startTime"] = to_epoch_seconds(start_time, "start_time")
    if frequency == "once":
        if interval is not None:
            raise AepInputError("interval: not used with frequency 'once'; drop it or pick a repeating frequency.")
    else:
        if interval is None or isinstance(interval, bool):
            raise AepInputError(f"interval: required with frequency {frequency!r} (a whole number).")
        try:
            interval_int = int(interval)
        except (TypeError, ValueError, OverflowError):
            raise AepInputError(f"interval: must be a whole number, got {interval!r}.") from None
        if interval_int != interval:
            raise AepInputError(f"interval: must be a whole number, got {interval!r}.")
        if interval_int < MIN_INTERVAL[frequency]:
            raise AepInputError(
                f"interval: at least {MIN_INTERVAL[frequency]} for frequency {frequency!r}, got {interval_int}."
            )
        params["interval"] = interval_int
    if backfill is not None:
        if not isinstance(backfill, bool):
            # bool("false") is True: never guess, a wrong guess ingests the whole history.
            raise AepInputError(f"backfill: True or False, got {backfill!r}.")
        params["backfill"] = backfill
    return params


def check_against_flow_spec(schedule: dict[str, Any], flow_spec: dict[str, Any]) -> bool:
    """Validate ``scheduleParams`` with the JSON schema the flow spec publishes; False when it has none."""
    schema = ((flow_spec.get("scheduleSpec") or {}).get("spec")) if isinstance(flow_spec, dict) else None
    if not isinstance(schema, dict):
        return False
    import jsonschema

    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(schedule), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.path) or "schedule"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.path) or 'schedule'}: {e.message}" if n else e.message
            for n, e in enumerate(errors[:3])
        )
        raise AepInputError(f"{where}: rejected by the rules of flow spec {flow_spec.get('name')!r}: {problems}.")
    return True
