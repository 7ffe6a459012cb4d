"""Imports that moved between Airflow 2.11 and 3.x, resolved once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:  # Airflow 3
    from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator, PokeReturnValue

    AIRFLOW_V3 = True
except ImportError:  # Airflow 2.11
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
    from airflow.models import BaseOperator  # type: ignore[no-redef,assignment]
    from airflow.models.baseoperatorlink import BaseOperatorLink  # type: ignore[no-redef,assignment]
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue  # type: ignore[no-redef,assignment]

    AIRFLOW_V3 = False

try:
    from airflow.sdk.log import mask_secret, redact
except ImportError:
    from airflow.utils.log.secrets_masker import mask_secret, redact  # type: ignore[no-redef]

try:  # Airflow 3: the sync mask_secret waits for the supervisor; this one awaits it
    from airflow.sdk.log import amask_secret
except ImportError:  # Airflow 2.11: the masker lives in this process, nothing to wait for

    async def amask_secret(secret: Any, name: str | None = None) -> None:  # type: ignore[misc]
        """Register a secret with the masker from a coroutine (triggers)."""
        mask_secret(secret, name)


if TYPE_CHECKING:
    try:
        from airflow.sdk import Context
    except ImportError:
        from airflow.utils.context import Context  # type: ignore[no-redef,assignment,attr-defined]
else:
    Context = dict


def xcom_get_value(ti_key: Any, key: str) -> Any:
    """Read an XCom for an operator extra link on either Airflow version."""
    if AIRFLOW_V3:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=key)
    from airflow.models.xcom import XCom as XCom2

    return XCom2.get_value(ti_key=ti_key, key=key)


async def aget_connection(conn_id: str) -> Any:
    """Read an Airflow connection without blocking the event loop (for triggers)."""
    getter = getattr(BaseHook, "aget_connection", None)
    if getter is not None:
        return await getter(conn_id)
    import asyncio

    return await asyncio.to_thread(BaseHook.get_connection, conn_id)


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable`` setting."""
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "AIRFLOW_V3",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "Context",
    "PokeReturnValue",
    "aget_connection",
    "amask_secret",
    "default_deferrable",
    "mask_secret",
    "redact",
    "xcom_get_value",
]
