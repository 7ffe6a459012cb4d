"""Checks of Google Cloud identifiers given by users, with messages that say how to fix them."""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_aep.exceptions import AepInputError

_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET_RE = re.compile(r"^[A-Za-z0-9_]{1,1024}$")


def check_project_id(value: Any, field: str = "project_id") -> str:
    """A Google Cloud project id: 6-30 characters, lower-case letters, digits, hyphens, starting with a letter."""
    if not isinstance(value, str) or not value.strip():
        raise AepInputError(f"{field}: a Google Cloud project id is required, e.g. 'my-project-123'.")
    text = value.strip()
    if not _PROJECT_RE.match(text):
        raise AepInputError(
            f"{field}: {text!r} is not a Google Cloud project id: expected 6 to 30 lower-case letters, "
            "digits or hyphens, starting with a letter and not ending with a hyphen (e.g. 'my-project-123')."
        )
    return text


def check_dataset_id(value: Any, field: str) -> str:
    """A bare BigQuery dataset id: letters, digits and underscores, no project prefix."""
    if not isinstance(value, str) or not value.strip():
        raise AepInputError(f"{field}: a BigQuery dataset id is required, e.g. 'aep_staging'.")
    text = value.strip()
    if "." in text or ":" in text:
        bare = re.split(r"[.:]", text)[-1]
        raise AepInputError(
            f"{field}: {text!r} looks like 'project.dataset'; give the bare dataset id instead, e.g. {bare!r}."
        )
    if not _DATASET_RE.match(text):
        raise AepInputError(
            f"{field}: {text!r} is not a BigQuery dataset id: use only letters, digits and underscores "
            "(at most 1024 characters)."
        )
    return text
