"""Operators for the rest of the BigQuery journey: explore, source/target connections, mapping, dataflow, run."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_aep._compat import BaseOperator, default_deferrable
from airflow_provider_aep.constants import (
    BIGQUERY_CONNECTION_SPEC_ID,
    BIGQUERY_CONNECTION_SPEC_VERSION,
    CRM_TO_AEP_FLOW_SPEC,
    DATA_LAKE_CONNECTION_SPEC_ID,
    XDM_FULL_CONTENT_TYPE,
)
from airflow_provider_aep.exceptions import AepInputError
from airflow_provider_aep.links import LINK_XCOM_KEY, AepDataflowLink, dataflow_url

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_provider_aep._compat import Context
    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

_TABLE_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_$-]+){1,2}$")
_XDM_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
RESOURCE_COLLECTIONS = {
    "connection": "connections",
    "source_connection": "sourceConnections",
    "target_connection": "targetConnections",
    "flow": "flows",
}


def _require_text(value: Any, field: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AepInputError(f"{field}: required, e.g. {example}.")
    return value.strip()


def check_table_path(value: Any, field: str = "table_path") -> str:
    """A BigQuery table as Adobe names it: ``dataset.table``."""
    text = _require_text(value, field, "'crm.customers'")
    if not _TABLE_PATH_RE.match(text):
        raise AepInputError(f"{field}: {text!r} is not a table path; use 'dataset.table', e.g. 'crm.customers'.")
    return text


def check_schema_id(value: Any, field: str = "schema_id") -> str:
    text = _require_text(value, field, "'https://ns.adobe.com/acme/schemas/1a2b3c'")
    if not text.startswith("https://ns.adobe.com/"):
        raise AepInputError(
            f"{field}: {text!r} is not an XDM schema id; copy the $id from Schema Registry, "
            "e.g. 'https://ns.adobe.com/acme/schemas/1a2b3c'."
        )
    return text


class _FlowServiceOperator(BaseOperator):
    """Shared plumbing: the hook, and creating a named resource exactly once."""

    ui_color = "#fa0f00"

    def __init__(self, *, aep_conn_id: str = "aep_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aep_conn_id = aep_conn_id

    @cached_property
    def hook(self) -> AdobeExperiencePlatformHook:
        from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

        return AdobeExperiencePlatformHook(aep_conn_id=self.aep_conn_id)

    def _create_named(
        self,
        kind: str,
        name: str,
        find: Callable[[], list[dict[str, Any]]],
        create: Callable[[], dict[str, Any]],
        collection: str,
        body: dict[str, Any],
        settings: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> str:
        """Reuse the resource of that name if there is one, else create it once; return its id.

        ``settings`` reads, from a resource or the ``body`` this task would send, the values that
        matter (by argument name): a resource reused by name must have the same ones, or the task
        fails naming the difference.
        """

        def find_one() -> dict[str, Any] | None:
            matches = find()
            return min(matches, key=lambda r: r.get("createdAt", 0)) if matches else None

        resource, created = self.hook.create_once(
            kind=kind,
            name=name,
            create=create,
            find=find_one,
            discard=lambda resource_id: self.hook.delete_resource(collection, resource_id),
        )
        if not created:
            _refuse_other_settings(kind, name, resource, settings(resource), settings(body))
        self.log.info("%s %r %s: %s", kind.capitalize(), name, "created" if created else "reused", resource["id"])
        return str(resource["id"])


_ABSENT = object()


def _at(doc: Any, *path: str) -> Any:
    """The value at ``path``; ``_ABSENT`` when the service left out the first part, None for a missing leaf."""
    if not isinstance(doc, dict) or path[0] not in doc:
        return _ABSENT
    value = doc[path[0]]
    for key in path[1:]:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _source_settings(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_connection_id": _at(doc, "baseConnectionId"),
        "table_path": _at(doc, "params", "tableName"),
        "columns": _at(doc, "params", "columns"),
        "row_filter": _at(doc, "params", "filters"),
    }


def _target_settings(doc: dict[str, Any]) -> dict[str, Any]:
    return {"dataset_id": _at(doc, "params", "dataSetId"), "schema_id": _at(doc, "data", "schema", "id")}


def _flow_settings(doc: dict[str, Any]) -> dict[str, Any]:
    steps = _at(doc, "transformations")
    by_name = {t.get("name"): t.get("params") or {} for t in steps or [] if isinstance(t, dict)}
    mapping = by_name.get("Mapping") or {}
    version = mapping.get("mappingVersion")
    return {
        "source_connection_id": _at(doc, "sourceConnectionIds"),
        "target_connection_id": _at(doc, "targetConnectionIds"),
        "mapping_id": _ABSENT if steps is _ABSENT else mapping.get("mappingId"),
        "mapping_version": _ABSENT if steps is _ABSENT else _as_int(version),
        "delta_column": _ABSENT
        if steps is _ABSENT
        else ((by_name.get("Copy") or {}).get("deltaColumn") or {}).get("name"),
        "frequency": _at(doc, "scheduleParams", "frequency"),
        "interval": _as_int(_at(doc, "scheduleParams", "interval")) if "scheduleParams" in doc else _ABSENT,
    }


def _refuse_other_settings(
    kind: str, name: str, existing: dict[str, Any], there: dict[str, Any], wanted: dict[str, Any]
) -> None:
    """Fail when the resource of that name was made with other settings than this task asks for.

    Compares only what the service returned: a part it left out of the listing is not a difference.
    """
    differences = [
        f"{arg} {there[arg]!r} there, {wanted[arg]!r} here"
        for arg in wanted
        if there.get(arg, _ABSENT) is not _ABSENT and there[arg] != wanted[arg]
    ]
    if differences:
        raise AepInputError(
            f"name: {kind} {name!r} ({existing.get('id')}) already exists with other settings ("
            f"{'; '.join(differences)}). Give this one another name, or delete that one first."
        )


class ExploreConnectionOperator(_FlowServiceOperator):
    """List the tables behind a base connection, or read one table's schema (and preview rows).

    Returns a list of ``{name, path, type, can_preview, can_fetch_schema}`` for the tables, or
    ``{path, columns: [{name, type, xdm_type}], rows}`` for one table.

    :param connection_id: the base connection id (templated).
    :param object_path: ``dataset.table`` to describe; omit to list the tables (templated).
    :param preview: also return sample rows of the table.
    :param row_filter: filter the preview rows at the source; see :mod:`airflow_provider_aep.utils.pql`.
    """

    template_fields: Sequence[str] = ("connection_id", "object_path", "aep_conn_id")

    def __init__(
        self,
        *,
        connection_id: str,
        object_path: str | None = None,
        preview: bool = False,
        row_filter: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.connection_id = connection_id
        self.object_path = object_path
        self.preview = preview
        self.row_filter = row_filter

    def execute(self, context: Context) -> Any:
        from airflow_provider_aep.utils.pql import encode_pql

        connection_id = _require_text(self.connection_id, "connection_id", "the base connection id from XCom")
        if self.row_filter is not None and not (self.object_path and self.preview):
            raise AepInputError("row_filter: only filters preview rows; give object_path and preview=True.")
        filters = encode_pql(self.row_filter) if self.row_filter is not None else None
        if not self.object_path:
            tables = [
                {
                    "name": item.get("name"),
                    "path": item.get("path"),
                    "type": item.get("type"),
                    "can_preview": bool(item.get("canPreview")),
                    "can_fetch_schema": bool(item.get("canFetchSchema")),
                }
                for item in self.hook.explore_tables(connection_id)
            ]
            self.log.info("Base connection %s exposes %d tables.", connection_id, len(tables))
            return tables
        path = check_table_path(self.object_path, "object_path")
        data = self.hook.explore(
            connection_id, object_type="table", object_path=path, preview=self.preview, filters=filters
        )
        columns = [
            {
                "name": col.get("name"),
                "type": col.get("type"),
                "xdm_type": col.get("meta:xdmType") or (col.get("xdm") or {}).get("type"),
            }
            for col in ((data or {}).get("schema") or {}).get("columns") or []
        ]
        result: dict[str, Any] = {"path": path, "columns": columns}
        if self.preview:
            result["rows"] = (data or {}).get("data") or []
        self.log.info(
            "Table %s: %d columns%s.",
            path,
            len(columns),
            f", {len(result['rows'])} preview rows" if self.preview else "",
        )
        return result


class CreateSourceConnectionOperator(_FlowServiceOperator):
    """Create (or reuse, by name) the source connection for one BigQuery table; return its id.

    :param name: source connection name (templated).
    :param base_connection_id: the BigQuery base connection (templated).
    :param table_path: ``dataset.table`` (templated).
    :param columns: only these columns; all when omitted.
    :param row_filter: only rows matching this filter; see :mod:`airflow_provider_aep.utils.pql`.
    """

    template_fields: Sequence[str] = ("name", "description", "base_connection_id", "table_path", "aep_conn_id")

    def __init__(
        self,
        *,
        name: str,
        base_connection_id: str,
        table_path: str,
        columns: Sequence[str] | None = None,
        row_filter: Any = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.base_connection_id = base_connection_id
        self.table_path = table_path
        self.columns = columns
        self.row_filter = row_filter
        self.description = description

    def build_body(self) -> dict[str, Any]:
        from airflow_provider_aep.utils.pql import build_pql

        name = _require_text(self.name, "name", "'bigquery-crm-customers'")
        params: dict[str, Any] = {"tableName": check_table_path(self.table_path)}
        if self.columns is not None:
            if isinstance(self.columns, str) or not all(isinstance(c, str) and c for c in self.columns):
                raise AepInputError("columns: a list of column names, e.g. ['customer_id', 'email'].")
            if not self.columns:
                raise AepInputError("columns: an empty list selects nothing; omit it to take every column.")
            params["columns"] = list(self.columns)
        if self.row_filter is not None:
            params["filters"] = build_pql(self.row_filter)
        body: dict[str, Any] = {
            "name": name,
            "baseConnectionId": _require_text(self.base_connection_id, "base_connection_id", "an id from XCom"),
            "data": {"format": "tabular"},
            "params": params,
            "connectionSpec": {"id": BIGQUERY_CONNECTION_SPEC_ID, "version": BIGQUERY_CONNECTION_SPEC_VERSION},
        }
        if self.description:
            body["description"] = self.description
        return body

    def execute(self, context: Context) -> str:
        body = self.build_body()
        return self._create_named(
            "source connection",
            body["name"],
            find=lambda: self.hook.find_source_connections(name=body["name"]),
            create=lambda: self.hook.create_source_connection(body),
            collection="sourceConnections",
            body=body,
            settings=_source_settings,
        )


class CreateDataLakeTargetConnectionOperator(_FlowServiceOperator):
    """Create (or reuse, by name) the target connection to an AEP dataset; return its id.

    :param name: target connection name (templated).
    :param dataset_id: the AEP dataset that receives the data (templated).
    :param schema_id: the dataset's XDM schema ``$id`` (templated).
    :param schema_version: XDM content type and version of the schema.
    """

    template_fields: Sequence[str] = ("name", "description", "dataset_id", "schema_id", "aep_conn_id")

    def __init__(
        self,
        *,
        name: str,
        dataset_id: str,
        schema_id: str,
        schema_version: str = XDM_FULL_CONTENT_TYPE,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.dataset_id = dataset_id
        self.schema_id = schema_id
        self.schema_version = schema_version
        self.description = description

    def build_body(self) -> dict[str, Any]:
        dataset_id = _require_text(self.dataset_id, "dataset_id", "the AEP dataset id '5f0c...'")
        if not re.fullmatch(r"[A-Za-z0-9]{8,64}", dataset_id):
            raise AepInputError(
                f"dataset_id: {dataset_id!r} is not an AEP dataset id (letters and digits, as shown in Datasets)."
            )
        body: dict[str, Any] = {
            "name": _require_text(self.name, "name", "'aep-crm-customers'"),
            "data": {"schema": {"id": check_schema_id(self.schema_id), "version": self.schema_version}},
            "params": {"dataSetId": dataset_id},
            "connectionSpec": {"id": DATA_LAKE_CONNECTION_SPEC_ID, "version": "1.0"},
        }
        if self.description:
            body["description"] = self.description
        return body

    def execute(self, context: Context) -> str:
        body = self.build_body()
        return self._create_named(
            "target connection",
            body["name"],
            find=lambda: self.hook.find_target_connections(name=body["name"]),
            create=lambda: self.hook.create_target_connection(body),
            collection="targetConnections",
            body=body,
            settings=_target_settings,
        )


class CreateMappingSetOperator(_FlowServiceOperator):
    """Create (or reuse) a Data Prep mapping set from source columns to XDM paths.

    The mapping set is named after its content unless ``name`` is given, so a re-run or a retry
    reuses the same mapping set instead of adding one per run.
    Returns ``{"mapping_id": ..., "mapping_version": ...}``; the id is also pushed as ``mapping_id``.

    :param schema_id: the target XDM schema ``$id`` (templated).
    :param mappings: ``{"column": "xdm.path"}`` or a list of ``(column, path)`` pairs or
        ``{"source": ..., "destination": ...}`` dicts.
    :param name: the mapping set's name (templated); by default ``airflow-`` and a hash of its content.
    """

    template_fields: Sequence[str] = ("schema_id", "name", "aep_conn_id")

    def __init__(self, *, schema_id: str, mappings: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema_id = schema_id
        self.mappings = mappings
        self.name = name

    def build_body(self) -> dict[str, Any]:
        pairs: list[tuple[Any, Any]]
        if isinstance(self.mappings, dict):
            pairs = list(self.mappings.items())
        elif isinstance(self.mappings, list | tuple):
            pairs = []
            for item in self.mappings:
                if isinstance(item, dict) and {"source", "destination"} <= item.keys():
                    pairs.append((item["source"], item["destination"]))
                elif isinstance(item, list | tuple) and len(item) == 2:
                    pairs.append((item[0], item[1]))
                else:
                    raise AepInputError(
                        f"mappings: each item is (column, xdm_path) or {{'source', 'destination'}}, got {item!r}."
                    )
        else:
            raise AepInputError("mappings: give a dict {'column': 'xdm.path'} or a list of (column, xdm_path).")
        if not pairs:
            raise AepInputError("mappings: at least one column must be mapped.")
        rows = []
        for source, destination in pairs:
            if not isinstance(source, str) or not source.strip():
                raise AepInputError(f"mappings: source column {source!r} must be a non-empty name.")
            if not isinstance(destination, str) or not _XDM_PATH_RE.match(destination):
                raise AepInputError(
                    f"mappings: destination {destination!r} for {source!r} is not an XDM path such as "
                    "'person.name.firstName' or '_acme.loyaltyPoints'."
                )
            rows.append({"sourceType": "ATTRIBUTE", "source": source.strip(), "destination": destination})
        destinations = [r["destination"] for r in rows]
        duplicates = sorted({d for d in destinations if destinations.count(d) > 1})
        if duplicates:
            raise AepInputError(f"mappings: several columns map to the same XDM path {duplicates}.")
        body: dict[str, Any] = {
            "outputSchema": {
                "schemaRef": {"id": check_schema_id(self.schema_id), "contentType": XDM_FULL_CONTENT_TYPE}
            },
            "mappings": rows,
        }
        if self.name is not None:
            body["name"] = _require_text(self.name, "name", "'crm-customers-mapping'")
        else:
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()[:20]
            body["name"] = f"airflow-{digest}"
        return body

    def execute(self, context: Context) -> dict[str, Any]:
        body = self.build_body()

        def find() -> dict[str, Any] | None:
            for existing in self.hook.find_mapping_sets(name=body["name"]):
                if _same_mappings(existing, body):
                    return existing
                raise AepInputError(
                    f"name: mapping set {body['name']!r} ({existing.get('id')}) already exists with other "
                    "mappings or schema; give this one another name."
                )
            return None

        mapping_set, created = self.hook.create_once(
            kind="mapping set", name=body["name"], create=lambda: self.hook.create_mapping_set(body), find=find
        )
        result = {"mapping_id": mapping_set["id"], "mapping_version": int(mapping_set.get("version", 0))}
        self.log.info(
            "Mapping set %s %r %s (version %s): %d mappings.",
            result["mapping_id"],
            body["name"],
            "created" if created else "reused",
            result["mapping_version"],
            len(body["mappings"]),
        )
        context["ti"].xcom_push(key="mapping_id", value=result["mapping_id"])
        return result


def _same_mappings(existing: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a stored mapping set maps the same columns to the same schema paths."""

    def key(doc: dict[str, Any]) -> tuple[Any, ...]:
        schema = ((doc.get("outputSchema") or {}).get("schemaRef") or {}).get("id")
        pairs = sorted((m.get("source"), m.get("destination")) for m in doc.get("mappings") or [])
        return schema, tuple(pairs)

    return "mappings" not in existing or key(existing) == key(body)


class CreateDataflowOperator(_FlowServiceOperator):
    """Create (or reuse, by name) the dataflow from a BigQuery source to the Data Lake; return its id.

    :param name: dataflow name (templated).
    :param source_connection_id: source connection (templated).
    :param target_connection_id: target connection (templated).
    :param mapping_id: Data Prep mapping set id (templated).
    :param mapping_version: its version.
    :param delta_column: column Adobe uses to pick up new rows (e.g. ``updated_at``).
    :param frequency: ``once``, ``minute``, ``hour``, ``day`` or ``week``.
    :param interval: repeat every ``interval`` units (≥15 for minute); not for ``once``.
    :param start_time: a timezone-aware datetime, ISO text or epoch seconds; defaults to now.
    :param backfill: also ingest historical data.
    :param delta_date_format: optional ``dateFormat`` of the delta column.
    :param delta_timezone: optional ``timezone`` of the delta column.
    :param flow_spec_name: the flow spec to use.
    """

    template_fields: Sequence[str] = (
        "name",
        "source_connection_id",
        "target_connection_id",
        "mapping_id",
        "mapping_version",
        "start_time",
        "aep_conn_id",
    )
    operator_extra_links = (AepDataflowLink(),)

    def __init__(
        self,
        *,
        name: str,
        source_connection_id: str,
        target_connection_id: str,
        mapping_id: str,
        mapping_version: int | str = 0,
        delta_column: str,
        frequency: str = "once",
        interval: int | None = None,
        start_time: Any = None,
        backfill: bool | None = None,
        delta_date_format: str | None = None,
        delta_timezone: str | None = None,
        flow_spec_name: str = CRM_TO_AEP_FLOW_SPEC,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from airflow_provider_aep.utils.schedule import FREQUENCIES

        if not isinstance(frequency, str) or frequency.lower() not in FREQUENCIES:
            raise AepInputError(f"frequency: must be one of {', '.join(FREQUENCIES)}, got {frequency!r}.")
        self.name = name
        self.source_connection_id = source_connection_id
        self.target_connection_id = target_connection_id
        self.mapping_id = mapping_id
        self.mapping_version = mapping_version
        self.delta_column = delta_column
        self.frequency = frequency
        self.interval = interval
        self.start_time = start_time
        self.backfill = backfill
        self.delta_date_format = delta_date_format
        self.delta_timezone = delta_timezone
        self.flow_spec_name = flow_spec_name
        self.description = description

    def build_body(self, flow_spec_id: str = "") -> dict[str, Any]:
        from airflow_provider_aep.utils.schedule import build_schedule

        schedule = build_schedule(
            self.frequency,
            interval=self.interval,
            start_time=self.start_time,
            backfill=self.backfill,
            default_start=int(time.time()),
        )
        delta: dict[str, Any] = {"name": _require_text(self.delta_column, "delta_column", "'updated_at'")}
        if self.delta_date_format:
            delta["dateFormat"] = self.delta_date_format
        if self.delta_timezone:
            delta["timezone"] = self.delta_timezone
        try:
            version = int(self.mapping_version)
        except (TypeError, ValueError):
            raise AepInputError(f"mapping_version: a whole number, got {self.mapping_version!r}.") from None
        body: dict[str, Any] = {
            "name": _require_text(self.name, "name", "'bigquery-crm-customers-to-aep'"),
            "flowSpec": {"id": flow_spec_id, "version": "1.0"},
            "sourceConnectionIds": [_require_text(self.source_connection_id, "source_connection_id", "an id")],
            "targetConnectionIds": [_require_text(self.target_connection_id, "target_connection_id", "an id")],
            "transformations": [
                {"name": "Copy", "params": {"deltaColumn": delta}},
                {
                    "name": "Mapping",
                    "params": {
                        "mappingId": _require_text(self.mapping_id, "mapping_id", "an id from XCom"),
                        "mappingVersion": version,
                    },
                },
            ],
            "scheduleParams": schedule,
        }
        if self.description:
            body["description"] = self.description
        return body

    def execute(self, context: Context) -> str:
        from airflow_provider_aep.utils.schedule import check_against_flow_spec

        body = self.build_body()
        flow_spec = self.hook.find_flow_spec(self.flow_spec_name)
        if not check_against_flow_spec(body["scheduleParams"], flow_spec):
            self.log.warning(
                "Flow spec %r publishes no schedule rules; the schedule was checked by the built-in rules only.",
                self.flow_spec_name,
            )
        body["flowSpec"]["id"] = flow_spec["id"]
        flow_id = self._create_named(
            "dataflow",
            body["name"],
            find=lambda: self.hook.find_flows(name=body["name"]),
            create=lambda: self.hook.create_flow(body),
            collection="flows",
            body=body,
            settings=_flow_settings,
        )
        context["ti"].xcom_push(key=LINK_XCOM_KEY, value=dataflow_url(self.hook.settings.sandbox_name, flow_id))
        return flow_id


class RunDataflowOperator(_FlowServiceOperator):
    """Start an on-demand run of a ``once`` dataflow and, by default, wait for it; return the run id.

    :param flow_id: the dataflow (templated).
    :param window_start: start of the ingestion window (datetime, ISO text or epoch seconds; templated).
    :param window_end: end of the window (templated).
    :param delta_column: the delta column, sent on the flow's first run only.
    :param wait_for_completion: wait until the run ends and fail if it failed.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: seconds between checks while waiting.
    :param timeout: seconds to wait at most.
    """

    template_fields: Sequence[str] = ("flow_id", "window_start", "window_end", "aep_conn_id")
    operator_extra_links = (AepDataflowLink(),)

    def __init__(
        self,
        *,
        flow_id: str,
        window_start: Any,
        window_end: Any,
        delta_column: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 60.0,
        timeout: float = 6 * 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.window_start = window_start
        self.window_end = window_end
        self.delta_column = delta_column
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = timeout

    def window(self) -> tuple[int, int]:
        from airflow_provider_aep.utils.schedule import to_epoch_seconds

        start = to_epoch_seconds(self.window_start, "window_start")
        end = to_epoch_seconds(self.window_end, "window_end")
        if end <= start:
            raise AepInputError(f"window_end: must be after window_start ({start} ≥ {end}).")
        return start, end

    def execute(self, context: Context) -> str:
        from airflow_provider_aep.utils.runs import FAILED_STATES, is_success, run_status

        flow_id = _require_text(self.flow_id, "flow_id", "the dataflow id from XCom")
        start, end = self.window()
        earlier_runs = list(self.hook.list_runs(flow_id))
        earlier_ids = {run.get("id") for run in earlier_runs}

        def same_window() -> dict[str, Any] | None:
            """A run of this window that is under way or succeeded; a failed one is tried again (task retry).

            Needs the run's ``params``, which Flow Service returns as its tutorials show; without them
            no run matches and a task retry starts a new run.
            """
            for run in earlier_runs:
                params = run.get("params") or {}
                window = (_as_int(params.get("windowStartTime")), _as_int(params.get("windowEndTime")))
                if window == (start, end) and run_status(run) not in FAILED_STATES:
                    return run
            return None

        def started_by_this_try() -> dict[str, Any] | None:
            """After an ambiguous failure of ``POST /runs``: the run that was not there before it."""
            return next((run for run in self.hook.list_runs(flow_id) if run.get("id") not in earlier_ids), None)

        params: dict[str, Any] = {"startTime": int(time.time()), "windowStartTime": start, "windowEndTime": end}
        if self.delta_column and not any(is_success(run_status(run)) for run in earlier_runs):
            params["deltaColumn"] = {"name": self.delta_column}  # until a run has succeeded (first run)
        run, created = same_window(), False
        if run is None:
            run, created = self.hook.create_once(
                kind="dataflow run",
                name=f"window {start}-{end}",
                create=lambda: self.hook.create_run({"flowId": flow_id, "params": params}),
                find=started_by_this_try,
                look_first=False,
            )
        run_id = str(run["id"])
        self.log.info(
            "Dataflow run %s %s for flow %s (window %s to %s).",
            run_id,
            "started" if created else "reused",
            flow_id,
            start,
            end,
        )
        context["ti"].xcom_push(key=LINK_XCOM_KEY, value=dataflow_url(self.hook.settings.sandbox_name, flow_id))
        if not self.wait_for_completion:
            return run_id
        if self.deferrable:
            from airflow_provider_aep.triggers.flow_service import DataflowRunTrigger

            self.defer(
                trigger=DataflowRunTrigger(
                    run_id=run_id,
                    aep_conn_id=self.aep_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=time.time() + self.wait_timeout,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.wait_timeout + 60),
            )
        return self._wait(context, run_id)

    def _wait(self, context: Context, run_id: str) -> str:
        from airflow_provider_aep.sensors.flow_service import finish_run, read_run
        from airflow_provider_aep.utils.runs import is_terminal, run_status, summarize_run

        deadline = time.monotonic() + self.wait_timeout
        while True:
            run = read_run(self.hook, run_id, None) or {}
            status = run_status(run)
            if is_terminal(status):
                finish_run(summarize_run(run), self.log, ti=context["ti"])
                return run_id
            if time.monotonic() + self.poll_interval > deadline:
                from airflow.exceptions import AirflowException

                raise AirflowException(
                    f"Timed out after {self.wait_timeout} s waiting for dataflow run {run_id} (still {status})."
                )
            self.log.info("Dataflow run %s is %s; checking again in %.0f s.", run_id, status, self.poll_interval)
            time.sleep(self.poll_interval)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resume after the trigger fired: fail on a failed run, return the run id on success."""
        from airflow_provider_aep.sensors.flow_service import finish_trigger_event

        result = finish_trigger_event(event, self.wait_timeout, self.log, ti=context["ti"])
        return str(result.get("run_id"))


def _as_int(value: Any) -> int | None:
    """An epoch value as Adobe may return it (number or text); None when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class DeleteFlowServiceResourceOperator(_FlowServiceOperator):
    """Delete a connection, source or target connection, or dataflow; one already gone is success.

    :param resource_type: ``connection``, ``source_connection``, ``target_connection`` or ``flow``.
    :param resource_id: its id (templated).
    """

    template_fields: Sequence[str] = ("resource_id", "aep_conn_id")

    def __init__(self, *, resource_type: str, resource_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if resource_type not in RESOURCE_COLLECTIONS:
            raise AepInputError(f"resource_type: one of {', '.join(RESOURCE_COLLECTIONS)}, got {resource_type!r}.")
        self.resource_type = resource_type
        self.resource_id = resource_id

    def execute(self, context: Context) -> bool:
        resource_id = _require_text(self.resource_id, "resource_id", "an id from XCom")
        deleted = self.hook.delete_resource(RESOURCE_COLLECTIONS[self.resource_type], resource_id, missing_ok=True)
        self.log.info(
            "%s %s %s.",
            self.resource_type.replace("_", " ").capitalize(),
            resource_id,
            "deleted" if deleted else "was already gone",
        )
        return deleted
