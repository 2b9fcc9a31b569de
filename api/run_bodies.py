"""The answer bodies of runs (http-api.md §5, §6, §9): built from a `RunRecord` and the run's end.

A run that reused memo entries (a resume, `"reuse": "tenant"`) shows `reused_invocations` and
`reused_cost` (USD not spent again) beside its usage, in its record and its results; a run that
reused nothing shows neither, so existing answers keep their shape.
"""

from __future__ import annotations

from typing import Any

from shared.runs.run_states import RunState
from shared.runs.workflow_io import RunEnd
from shared.runtime.content_refs import is_stored
from shared.runtime.json_values import as_mapping
from shared.storage.blob_store import BlobStore
from shared.storage.run_storage import get_json
from shared.storage.stored_contents import resolve_content

ARTIFACTS = (
    "graph_spec",
    "pipe_io_contracts",
    "input_form",
    "output_form",
    "main_stuff",
    "working_memory",
    "tokens_usages",
    "batch_failures",
)


def stored_memory_of(end: RunEnd, store: BlobStore) -> dict[str, Any]:
    """The final working memory as the run left it: inline in the result, or in storage when it was
    large; a list a batch workflow stored in pages is still its reference (`content_refs.py`)."""
    if end.working_memory is not None:
        return end.working_memory
    if end.output_ref is not None:
        memory: dict[str, Any] = get_json(store, end.output_ref)
        return memory
    return {"root": {}, "aliases": {}, "absences": {}}


def working_memory_of(end: RunEnd, store: BlobStore) -> dict[str, Any]:
    """The final working memory with every stored content read back (`/results`, `/execute`)."""
    return with_stored_contents(stored_memory_of(end, store), store)


def with_stored_contents(memory: dict[str, Any], store: BlobStore) -> dict[str, Any]:
    """`memory` with each stuff whose content was stored given that content (a list's items in order)."""
    root = {
        name: dict(as_mapping(stuff) or {}) for name, stuff in (as_mapping(memory.get("root")) or {}).items()
    }
    stored = [fields for fields in root.values() if is_stored(fields.get("content"))]
    if not stored:
        return memory
    for fields in stored:
        fields["content"] = resolve_content(store, fields["content"])
    return {**memory, "root": root}


def tokens_usages_of(end: RunEnd, store: BlobStore) -> list[dict[str, Any]]:
    """The usage records of the run's model calls: inline in the result, or in storage when many."""
    if end.tokens_usages_ref is not None:
        usages: list[dict[str, Any]] = get_json(store, end.tokens_usages_ref)
        return usages
    return [record.model_dump(mode="json") for record in end.tokens_usages]


def batch_failures_of(end: RunEnd, store: BlobStore) -> list[dict[str, Any]] | None:
    """methodflow: the failed batch items of a run that collected them (`batch_failures: "collect"`),
    inline in the result or in storage when many; None when the run did not collect."""
    if end.batch_failures_ref is not None:
        failures: list[dict[str, Any]] = get_json(store, end.batch_failures_ref)
        return failures
    return end.batch_failures


def usage_summary(end: RunEnd | None) -> dict[str, Any] | None:
    """methodflow: the run's model calls in sum (`/v1/runs/{id}`); None until the run has ended."""
    if end is None:
        return None
    return {"model_calls": end.model_calls, "cost_usd": end.cost_usd, "nb_tokens_by_category": end.tokens}


def reuse_members(end: RunEnd | None) -> dict[str, Any]:
    """methodflow: `reused_invocations` and `reused_cost` of a run that reused any invocation, else none."""
    if end is None or end.reused_invocations == 0:
        return {}
    return {"reused_invocations": end.reused_invocations, "reused_cost": end.reused_cost_usd}


def start_body(
    run_id: str, workflow_id: str, created_at: str, state: RunState, end: RunEnd | None
) -> dict[str, Any]:
    """§6: the run as it is now (STARTED for a new run)."""
    return {
        "pipeline_run_id": run_id,
        "workflow_id": workflow_id,
        "created_at": created_at,
        "state": state.value,
        "pipeline_state": state.value,
        "finished_at": end.finished_at if end is not None else None,
        "main_stuff_name": end.main_stuff_name if end is not None else None,
        "pipe_output": None,
        "crate_fingerprint": None,
        "method_provenance": None,
    }


def execute_body(
    run_id: str,
    workflow_id: str,
    created_at: str,
    end: RunEnd,
    memory: dict[str, Any],
    usages: list[dict[str, Any]],
    failures: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """§5: a completed run with its whole working memory; `batch_failures` (methodflow) when collected."""
    body: dict[str, Any] = {
        "pipeline_run_id": run_id,
        "workflow_id": workflow_id,
        "created_at": created_at,
        "finished_at": end.finished_at,
        "state": end.state.value,
        "pipeline_state": end.state.value,
        "main_stuff_name": end.main_stuff_name,
        "pipe_output": {
            "pipeline_run_id": run_id,
            "working_memory": memory,
            "working_memory_raw": None,
            "graph_spec": None,
            "graph_assembly_error": None,
            "pipe_io_artifacts": None,
            "pipe_io_artifacts_error": None,
            "tokens_usages": usages,
            "usage_assembly_error": None,
        },
    }
    if failures is not None:
        body["batch_failures"] = failures
    return body


def results_body(
    run_id: str,
    end: RunEnd,
    memory: dict[str, Any],
    usages: list[dict[str, Any]],
    artifacts: tuple[str, ...] | None,
    failures: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """§9.6 200: the main stuff's content, the memory and the artefacts (absent when not asked for);
    methodflow's `batch_failures` when the run collected them, or when asked for (then null if not)."""
    main_name = end.main_stuff_name
    main_stuff = memory.get("root", {}).get(main_name, {}).get("content") if main_name else None
    full: dict[str, Any] = {
        "main_stuff": main_stuff,
        "working_memory": {"root": memory.get("root", {}), "aliases": memory.get("aliases", {})},
        "graph_spec": None,
        "graph_assembly_error": None,
        "pipe_io_contracts": None,
        "input_form": None,
        "output_form": None,
        "pipe_io_artifacts_error": None,
        "tokens_usages": usages,
        "usage_assembly_error": None,
    }
    if artifacts is None:
        extension = {"batch_failures": failures} if failures is not None else {}
        return {"pipeline_run_id": run_id, **full, **extension, **reuse_members(end)}
    full["batch_failures"] = failures
    body: dict[str, Any] = {"pipeline_run_id": run_id}
    for name in artifacts:
        body[name] = full[name]
        if name == "tokens_usages":
            body["usage_assembly_error"] = full["usage_assembly_error"]
    return body
