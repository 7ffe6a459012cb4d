"""Checks of Adobe resource ids before they go into a URL path or a Flow Service filter, shared by both hooks."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow_provider_aep.exceptions import AepInputError

# In ``property=flowId==<id>`` a comma means "any of", a quote opens a string, and '/', '?' or '#'
# would change the request itself; an Adobe id has none of them, nor whitespace.
_FILTER_BREAKERS = (",", '"', "/", "?", "#")


def check_filter_id(value: Any, field: str = "flow_id") -> str:
    """An Adobe id safe to put in a ``property=`` filter, unchanged; ``AepInputError`` naming ``field`` otherwise."""
    if not isinstance(value, str) or not value:
        raise AepInputError(f"{field}: an Adobe id is required, got {value!r}.")
    bad = next((c for c in value if c in _FILTER_BREAKERS or c.isspace()), None)
    if bad is not None:
        raise AepInputError(
            f"{field}: {value!r} is not an Adobe id: it contains {bad!r}. An id has no ',', '\"', '/', '?', "
            "'#' or whitespace; give one id (a comma would match the runs of several flows)."
        )
    return value


def path_id(value: Any, field: str = "resource_id") -> str:
    """An Adobe id as a URL path segment; ``AepInputError`` naming ``field`` for one that would change the path."""
    text = str(value or "").strip()
    if not text or any(c in text for c in "/?#") or text in (".", ".."):
        raise AepInputError(f"{field}: {value!r} is not an Adobe id (no '/', '?' or '#', not empty).")
    return quote(text, safe="")
