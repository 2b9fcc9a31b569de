"""The invocations of `/progress` (http-api.md §9.5), folded from the progress log's events. Pure."""

from __future__ import annotations

from typing import Any

from shared.runs.workflow_io import ProgressEvent

_ALWAYS = ("path", "pipe_code", "pipe_ref", "pipe_type", "status", "started_at", "ended_at")


def invocations(events: list[ProgressEvent]) -> list[dict[str, Any]]:
    """One entry per invocation path, in first-seen order (parents start before their children)."""
    by_path: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.data
        path = data.get("path")
        if not isinstance(path, str):
            continue
        if event.event == "pipe.started":
            started = {key: data.get(key) for key in _ALWAYS}
            by_path[path] = {**started, "started_at": event.at, "status": "running", "ended_at": None}
        elif event.event == "pipe.finished":
            entry = by_path.setdefault(path, {key: data.get(key) for key in _ALWAYS})
            entry.update(status=data.get("status"), ended_at=data.get("ended_at"))
            if "reused_from" in data:  # answered from the memo of that run (a resumed run)
                entry["reused_from"] = data["reused_from"]
            if entry.get("started_at") is None:
                entry["started_at"] = data.get("started_at")
        elif event.event == "batch.progress" and path in by_path:
            by_path[path]["batch"] = {key: data.get(key) for key in ("total", "done", "running", "failed")}
    return list(by_path.values())


def with_live_batch(items: list[dict[str, Any]], batch: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The invocations with the counters' batch counts on that batch's own entry: a batch run as batch
    workflows logs no `batch.progress` event until it ends, and its live counts come from the counters."""
    path = batch.get("path") if batch is not None else None
    if batch is None or path is None:
        return items
    counts = {key: batch.get(key) for key in ("total", "done", "running", "failed")}
    return [{**item, "batch": counts} if item["path"] == path else item for item in items]


def summary(state_status: str, items: list[dict[str, Any]]) -> str:
    """One English line for display."""
    running = [item for item in items if item["status"] == "running"]
    done = sum(1 for item in items if item["status"] in ("succeeded", "skipped"))
    if not running:
        return f"Run {state_status}: {done} of {len(items)} pipe invocations done"
    return f"Running {running[-1]['pipe_code']}: {done} of {len(items)} pipe invocations done, {len(running)} running"
