"""Dataflow run states as Adobe reports them, and a JSON-safe summary of a run."""

from __future__ import annotations

from typing import Any

# Adobe reports run states in two spellings: camelCase in the service, upper case in the spec.
SUCCESS_STATES = frozenset({"success", "completed", "partialsuccess", "partial_success"})
FAILED_STATES = frozenset({"failed", "partialfailure", "partial_failure", "cancelled", "canceled"})
PENDING_STATES = frozenset({"inprogress", "in_progress", "queued", "scheduled", "pending", ""})


def run_status(run: dict[str, Any]) -> str:
    """The run's status, lower case, e.g. ``success``, ``failed``, ``inprogress``."""
    metrics = run.get("metrics") or {}
    status = (metrics.get("statusSummary") or {}).get("status") or run.get("status") or ""
    return str(status).lower()


def is_terminal(status: str) -> bool:
    return status in SUCCESS_STATES or status in FAILED_STATES


def is_success(status: str) -> bool:
    return status in SUCCESS_STATES


def summarize_run(run: dict[str, Any]) -> dict[str, Any]:
    """Id, status, record counts and errors of a run, safe for XCom and trigger events."""
    metrics = run.get("metrics") or {}
    records = metrics.get("recordSummary") or {}
    status_summary = metrics.get("statusSummary") or {}
    errors = [
        {"code": str(e.get("code", "")), "message": str(e.get("message", ""))[:500]}
        for e in status_summary.get("errors") or []
        if isinstance(e, dict)
    ]
    return {
        "run_id": run.get("id"),
        "flow_id": run.get("flowId"),
        "status": run_status(run),
        "input_records": records.get("inputRecordCount"),
        "output_records": records.get("outputRecordCount"),
        "failed_records": records.get("failedRecordCount"),
        "errors": errors,
        "created_at": run.get("createdAt"),
    }


def describe_failure(summary: dict[str, Any]) -> str:
    """A one-paragraph reason for a failed run, with Adobe's error codes."""
    codes = "; ".join(f"{e['code']}: {e['message']}" for e in summary.get("errors") or []) or "no error details"
    return (
        f"Dataflow run {summary.get('run_id')} of flow {summary.get('flow_id')} {summary.get('status')}: {codes} "
        f"(records in {summary.get('input_records')}, out {summary.get('output_records')}, "
        f"failed {summary.get('failed_records')})."
    )
