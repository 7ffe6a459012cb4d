"""A small JSON-Schema subset validator plus the service-specific checks (key file, schedule)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from airflow_provider_aep.testing.specs import SCHEDULE_FREQUENCIES

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _type_ok(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(expected, (object,)))


def validate_schema(schema: dict[str, Any], value: Any, where: str) -> tuple[str, str] | None:
    """Validate ``value``; return ``(field, message)`` for the first error, else None.

    Supports type, required, properties, additionalProperties, enum, const, pattern, minLength,
    maxLength, minimum, items. ``where`` is the dotted path of ``value`` used in messages.
    """
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in types):
            return where, f"{where} must be of type {'/'.join(types)}"
    if "enum" in schema and value not in schema["enum"]:
        return where, f"{where} must be one of {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        return where, f"{where} must be {schema['const']!r}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return where, f"{where} must be at least {schema['minLength']} characters long"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return where, f"{where} must be at most {schema['maxLength']} characters long"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return where, f"{where} does not match the pattern {schema['pattern']}"
    if _type_ok(value, "number") and "minimum" in schema and value < schema["minimum"]:
        return where, f"{where} must be >= {schema['minimum']}"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            error = validate_schema(schema["items"], item, f"{where}[{index}]")
            if error:
                return error
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value or value[name] is None:
                return f"{where}.{name}", f"{where}.{name} is required"
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                error = validate_schema(props[key], item, f"{where}.{key}")
                if error:
                    return error
            elif extra is False:
                return f"{where}.{key}", f"{where}.{key} is not allowed (additionalProperties is false)"
            elif isinstance(extra, dict):
                error = validate_schema(extra, item, f"{where}.{key}")
                if error:
                    return error
    return None


def check_key_file(value: str) -> str | None:
    """Check a Base64 service-account key; return an error message or None."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "keyFileContent is not valid standard Base64 (encode the JSON key file with Base64)"
    try:
        key = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "keyFileContent does not decode to a JSON key file"
    if not isinstance(key, dict):
        return "keyFileContent must decode to a JSON object"
    if key.get("type") != "service_account":
        return "keyFileContent: the key file's type must be 'service_account'"
    if not isinstance(key.get("client_email"), str) or not key["client_email"]:
        return "keyFileContent: the key file has no client_email"
    private_key = key.get("private_key")
    if not isinstance(private_key, str) or not private_key.startswith("-----BEGIN PRIVATE KEY-----"):
        return "keyFileContent: the key file has no private_key in PEM (PKCS#8) form"
    return None


def check_schedule(params: Any) -> tuple[str, str] | None:
    """Validate ``scheduleParams`` per the CRMToAEP schedule schema; return (field, message) or None."""
    where = "scheduleParams"
    if not isinstance(params, dict):
        return where, "scheduleParams is required and must be an object"
    allowed = {"startTime", "frequency", "interval", "backfill"}
    for key in params:
        if key not in allowed:
            return f"{where}.{key}", f"{where}.{key} is not allowed"
    start = params.get("startTime")
    if start is None:
        return f"{where}.startTime", f"{where}.startTime is required"
    if not _type_ok(start, "integer"):
        return f"{where}.startTime", f"{where}.startTime must be an integer (epoch seconds)"
    if start > 10**11:
        return f"{where}.startTime", f"{where}.startTime must be in epoch seconds, not milliseconds"
    frequency = params.get("frequency")
    if frequency not in SCHEDULE_FREQUENCIES:
        return f"{where}.frequency", f"{where}.frequency must be one of {list(SCHEDULE_FREQUENCIES)}"
    interval = params.get("interval")
    if interval is None:
        if frequency != "once":
            return f"{where}.interval", f"{where}.interval is required when frequency is {frequency}"
    else:
        if not _type_ok(interval, "integer"):
            return f"{where}.interval", f"{where}.interval must be an integer"
        minimum = 15 if frequency == "minute" else 1
        if interval < minimum:
            return f"{where}.interval", f"{where}.interval must be >= {minimum} for frequency {frequency}"
    if "backfill" in params and not isinstance(params["backfill"], bool):
        return f"{where}.backfill", f"{where}.backfill must be a boolean"
    return None
