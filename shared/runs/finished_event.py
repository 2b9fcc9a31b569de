"""The `run.finished` event body (http-api.md §10.2): what a callback receiver gets, and the last event
of a run's event stream (§9.8). Pure: the caller reads the run's end and its working memory.
"""

from __future__ import annotations

import json
from typing import Any

from shared.runs.run_states import RunState
from shared.runs.workflow_io import RunEnd
from shared.runtime.content_refs import is_stored

FINISHED_EVENT = "run.finished"
OUTPUT_MAX_BYTES = 256 * 1024  # CALLBACK_OUTPUT_MAX_KIB's default


def finished_event(
    *,
    run_id: str,
    created_at: str,
    end: RunEnd,
    memory: dict[str, Any] | None,
    result_url: str,
    output_max_bytes: int = OUTPUT_MAX_BYTES,
) -> dict[str, Any]:
    """The event of a run that ended as `end`; `memory` is its final working memory (COMPLETED only)."""
    body: dict[str, Any] = {
        "type": FINISHED_EVENT,
        "pipeline_run_id": run_id,
        "state": end.state.value,
        "status": end.state.value,
        "created_at": created_at,
        "finished_at": end.finished_at,
    }
    if end.state == RunState.COMPLETED:
        body["main_stuff_name"] = end.main_stuff_name
    body["result_url"] = result_url
    if end.state == RunState.COMPLETED:
        body.update(_output(end.main_stuff_name, memory, output_max_bytes))
    elif end.error is not None:
        body["error"] = {key: value for key, value in end.error.items() if key != "status"}
    return body


def _output(main_name: str | None, memory: dict[str, Any] | None, max_bytes: int) -> dict[str, Any]:
    """The main stuff's content, or `output_omitted` when its compact JSON is too large to inline."""
    root: dict[str, Any] = (memory or {}).get("root", {})
    content = root.get(main_name, {}).get("content") if main_name else None
    if is_stored(content):  # a content stored by reference: large by construction
        return {"output_omitted": True}
    compact = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(compact) > max_bytes:
        return {"output_omitted": True}
    return {"output": content}
