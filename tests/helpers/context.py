"""A minimal task context for calling an operator's ``execute()`` directly."""

from __future__ import annotations

from typing import Any


class RecordingTaskInstance:
    """Stands in for ``ti``: records what the operator pushes to XCom."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcoms[key] = value


def task_context() -> dict[str, Any]:
    return {"ti": RecordingTaskInstance()}
