"""The request journal: every request the emulator received, with secrets redacted."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

REDACTED = "<redacted>"
_SECRET_FIELDS = ("client_secret",)


@dataclass(frozen=True)
class JournalEntry:
    """One received request and the status sent back (0 when the connection was dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    fault: bool


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Lower-case header names; hide the bearer token."""
    out = {k.lower(): v for k, v in headers.items()}
    if "authorization" in out:
        scheme = out["authorization"].split(" ", 1)[0]
        out["authorization"] = "Bearer <redacted>" if scheme.lower() == "bearer" else REDACTED
    return out


def redact_query(query: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: ([REDACTED] * len(v) if k in _SECRET_FIELDS else list(v)) for k, v in query.items()}


def journal_body(body: bytes, content_type: str) -> Any:
    """Parsed JSON, a redacted form dict, text, or None."""
    if not body:
        return None
    text = body.decode("utf-8", "replace")
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        form = parse_qs(text, keep_blank_values=True)
        return {k: (REDACTED if k in _SECRET_FIELDS else v[0]) for k, v in form.items()}
    if "json" in ctype or not ctype:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


class Journal:
    """Entries in arrival order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = 0
        self._floor = 0
        self._entries: dict[int, JournalEntry] = {}

    def arrive(self) -> int:
        """Reserve the arrival slot of a new request."""
        with self._lock:
            self._counter += 1
            return self._counter

    def record(self, seq: int, entry: JournalEntry) -> None:
        with self._lock:
            if seq > self._floor:
                self._entries[seq] = entry

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return [self._entries[k] for k in sorted(self._entries)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._floor = self._counter
