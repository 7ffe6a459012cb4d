"""Run DAGs for real with ``dag.test()`` on Airflow 3.3 and 2.11."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

DAG_HEADER = """
from __future__ import annotations
import pendulum
try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task
"""


def write_dag(dags_folder: Path, body: str, *, dag_id: str | None = None) -> tuple[str, Path]:
    """Write a DAG file whose body uses ``DAG_ID``; return the id and the file."""
    dag_id = dag_id or f"t_{uuid.uuid4().hex[:12]}"
    source = DAG_HEADER + f"DAG_ID = {dag_id!r}\n" + textwrap.dedent(body)
    path = dags_folder / f"{dag_id}.py"
    path.write_text(source)
    return dag_id, path


def load_dag(path: Path, dag_id: str) -> Any:
    bag = DagBag(str(path))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def run_dag(dags_folder: Path, body: str, *, conf: dict | None = None) -> Any:
    """Write, load and run a DAG; return the finished DagRun."""
    dag_id, path = write_dag(dags_folder, body)
    dag = load_dag(path, dag_id)
    return dag.test(run_conf=conf) if conf else dag.test()


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)
