"""Fault injection: make matching requests fail, hang, drop or answer after applying."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Fault:
    """One injected fault; ``hits`` counts the requests it has hit so far."""

    method: str = "*"
    path: str = "*"
    status: int | None = None
    body: Any = None
    raw_body: str | bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | str | None = None
    delay: float = 0.0
    drop: bool = False
    after_apply: bool = False
    times: int | None = 1
    skip: int = 0
    hits: int = 0
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and (query-less) path is targeted."""
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)

    @property
    def exhausted(self) -> bool:
        """True once the fault has hit ``times`` requests."""
        return self.times is not None and self.hits >= self.times

    @property
    def replaces_response(self) -> bool:
        """True when the fault answers instead of the emulated service."""
        return self.drop or self.status is not None


class FaultSet:
    """Thread-safe ordered list of faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be >= 1 or None")
        if fault.skip < 0:
            raise ValueError("skip must be >= 0")
        if fault.status is None and not fault.drop and fault.delay <= 0 and fault.raw_body is None:
            raise ValueError("a fault needs status, drop=True or delay > 0")
        if fault.raw_body is not None and fault.status is None:
            raise ValueError("raw_body needs a status")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """Return the fault that hits this request (counting it), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.matches(method, path):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                fault.hits += 1
                return fault
        return None
