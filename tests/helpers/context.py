"""A minimal task context for calling an operator's ``execute()`` directly, outside Airflow."""

from __future__ import annotations

from typing import Any


class FakeTI:
    """Just enough of a task instance for ``op.execute(context)``: records ``xcom_push``."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = value


def task_context() -> dict[str, Any]:
    return {"ti": FakeTI()}


def execute(op: Any) -> tuple[Any, FakeTI]:
    """Run ``op.execute`` with a fresh fake ``ti``; return its result and the ``ti``."""
    ti = FakeTI()
    return op.execute({"ti": ti, "task": op}), ti
