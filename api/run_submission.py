"""Accepting a run (http-api.md §4.5): every check in order, then one workflow start, never two.

A bad request never becomes a workflow: the method and the inputs are validated here, data URLs and
the method are stored, and only then is the workflow started under the run id. A resume
(`api/run_resume.py`) is submitted here too, with its `ResumeLineage`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pydantic_core
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.auth import Caller
from api.callback_urls import check_callback_urls
from api.deps import public_origin
from api.input_urls import FileInputs, check_input_urls
from api.method_source import SOURCE_FIELDS, bundle_sources, caller_blobs
from api.problems import ProblemError, request_too_large
from api.request_body import parse_request, read_json_object
from api.request_id import request_id_of
from api.run_records import RunRecord, read_run
from api.run_request import (
    RunRequestBody,
    check_request_fields,
    chosen_run_id,
    run_budget,
    unknown_members,
)
from api.run_resume import ResumeLineage, check_output_unchanged
from api.settings import ApiSettings
from api.temporal_gateway import MAX_PAYLOAD_BYTES, TemporalGateway, payload_size, temporal_unavailable
from api.tenant_limits import check_run_limit, run_priority
from api.validation_cache import ValidationCache
from shared.language.library import Library
from shared.language.report import BundleSource, ValidationReport
from shared.problems.catalogue import ProblemCode
from shared.runs.names import (
    PIPE_CODE_ATTRIBUTE,
    RUN_WORKFLOW,
    STATE_ATTRIBUTE,
    TENANT_ATTRIBUTE,
    run_workflow_id,
)
from shared.runs.request_digest import request_digest
from shared.runs.run_states import RunState
from shared.runs.timestamps import rfc3339
from shared.runs.workflow_io import BundleText, RunSpec
from shared.runtime.batch_failures import BatchFailureMode
from shared.runtime.caller_inputs import InputCode, InputRefused, refuse_reserved_keys, refuse_unknown_inputs
from shared.runtime.content_refs import REF_KEY, holds_marker
from shared.runtime.run_pipeline import (
    RunRequest,
    call_site_for,
    dynamic_concept,
    prepare_memory,
    select_pipe,
)
from shared.storage.run_storage import put_method, put_method_tree, run_key
from shared.storage.stored_contents import store_large_inputs
from shared.storage.stored_inputs import store_data_urls

TENANT_KEY = SearchAttributeKey.for_keyword(TENANT_ATTRIBUTE)
PIPE_CODE_KEY = SearchAttributeKey.for_keyword(PIPE_CODE_ATTRIBUTE)
STATE_KEY = SearchAttributeKey.for_keyword(STATE_ATTRIBUTE)
# Temporal's own execution timeout is a backstop one hour past the run's timer (§9.1).
BACKSTOP = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Submission:
    """The run a request names: `created` when this request started it, else an identical earlier one."""

    run_id: str
    created: bool
    record: RunRecord | None = None
    created_at: str = ""
    workflow_id: str = ""


async def submit_run(
    request: Request,
    caller: Caller,
    settings: ApiSettings,
    verdicts: ValidationCache,
    gateway: TemporalGateway,
) -> Submission:
    data = await read_json_object(request)
    return await submit_run_data(request, data, caller, settings, verdicts, gateway)


async def submit_run_data(
    request: Request,
    data: dict[str, Any],
    caller: Caller,
    settings: ApiSettings,
    verdicts: ValidationCache,
    gateway: TemporalGateway,
    *,
    resume: ResumeLineage | None = None,
) -> Submission:
    """Submit the run request `data` (a JSON object), as `/v1/start` does with its body; the Pipe Builder
    submits its own requests through here, and a resume with its `resume` lineage."""
    body = parse_request(RunRequestBody, data)
    # Python files in a tree are refused at step 6, after the checks of steps 3 to 5 (§4.5).
    # Hash entries of `files` are read from the caller's own blobs, off the event loop; bundle texts
    # have nothing to read, and are taken on the loop (a thread hop costs more than taking them).
    blobs = caller_blobs(caller, settings)
    if body.files is None:
        sources = bundle_sources(body, settings, refuse_custom_code=False, blobs=blobs)
    else:
        sources = await run_in_threadpool(
            bundle_sources, body, settings, refuse_custom_code=False, blobs=blobs
        )
    check_request_fields(body, data, settings)
    chosen = chosen_run_id(body, request.headers.get("idempotency-key"))
    try:
        refuse_reserved_keys(body.inputs)  # step 4
        refuse_markers(body.inputs)
    except InputRefused as refused:
        raise input_refused(refused) from refused
    await check_callback_urls(body.callback_urls, settings)
    # Hashed only when needed (a replay, or a request that passed step 7): a huge refused request never
    # pays for canonical JSON of its inputs.
    kept_inputs = resume.inputs if resume is not None else None
    digest_of = partial(
        request_digest,
        identity=caller.identity,
        method=_method_for_digest(body, sources),
        pipe_code=body.pipe_code,
        inputs=kept_inputs if kept_inputs is not None else body.inputs,
        output_name=body.output_name,
        output_multiplicity=body.output_multiplicity,
        dynamic_output_concept_ref=body.output_concept_ref,
        callback_urls=body.callback_urls,
        extensions=_digest_extensions(body, resume),
    )
    client = await gateway.client()
    if chosen is not None:
        # Only the caller's own runs: another tenant's run under the same id is another run (§7).
        existing = await read_run(client, chosen, caller=caller)
        if existing is not None:
            return _same_request_or_conflict(existing, chosen, digest_of())
    if body.files is not None:
        # Step 6: 501 for Python files.
        await run_in_threadpool(bundle_sources, body, settings, refuse_custom_code=True, blobs=blobs)
    # After the replay above (a repeat of a run already started is answered, never refused) and before
    # the method is validated and anything stored: a tenant over its limit costs the service one count.
    await check_run_limit(client, caller, settings.tenant_max_concurrent_runs)
    run_id = chosen or str(uuid.uuid4())
    # This request's own folder for the large inputs it stores: another request under the same run id
    # (a race, a conflict) never writes over them, and a request that creates no run removes them.
    stored_prefix = run_key(caller.storage_prefix, run_id, f"inputs/stored/{uuid.uuid4().hex}")

    async def drop_stored_inputs() -> None:
        await run_in_threadpool(settings.blob_store.delete_prefix, stored_prefix)

    try:
        spec = await run_in_threadpool(
            _prepared_spec,
            body,
            data,
            sources,
            caller,
            settings,
            verdicts,
            run_id,
            digest_of,
            request,
            stored_prefix,
            resume,
        )
        await _check_payload_size(client, spec, body)
    except Exception:
        await drop_stored_inputs()
        raise
    try:
        submission = await _start_run(client, spec, caller, settings, spec.request_digest, body.priority)
    except ProblemError as problem:
        # Kept when the start's answer was lost (503): the run may exist and read them.
        if problem.code is ProblemCode.REQUEST_IDEMPOTENCY_CONFLICT:
            await drop_stored_inputs()
        raise
    if not submission.created:  # the same request's run, started by another call: its own files
        await drop_stored_inputs()
    return submission


async def _start_run(
    client: Client, spec: RunSpec, caller: Caller, settings: ApiSettings, digest: str, priority: int | None
) -> Submission:
    """Start the run's workflow; an existing one under the id is this request's run or a conflict."""
    run_id = spec.run_id
    workflow_id = run_workflow_id(caller.tenant_key, run_id)
    try:
        await client.start_workflow(
            RUN_WORKFLOW,
            spec,
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
            # Failing on an existing id (rather than "use existing") tells us, in the one call,
            # whether this request created the run; the loser of a race reads the winner's run.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            execution_timeout=timedelta(seconds=spec.run_timeout_seconds) + BACKSTOP,
            priority=run_priority(caller, priority),
            memo=_memo(spec, caller),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(TENANT_KEY, caller.tenant_key),
                    SearchAttributePair(PIPE_CODE_KEY, spec.pipe_code),
                    SearchAttributePair(STATE_KEY, RunState.STARTED.value),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        existing = await read_run(client, run_id, caller=caller)
        if existing is None:  # ended and already past retention between the two calls
            detail = "The run id is being reused; send the request again."
            raise temporal_unavailable(detail) from None
        return _same_request_or_conflict(existing, run_id, digest)
    except RPCError as exc:
        raise temporal_unavailable() from exc
    return Submission(run_id, created=True, created_at=spec.created_at, workflow_id=workflow_id)


def _same_request_or_conflict(existing: RunRecord, run_id: str, digest: str) -> Submission:
    if existing.request_digest != digest:
        raise ProblemError(
            ProblemCode.REQUEST_IDEMPOTENCY_CONFLICT,
            f"The run id '{run_id}' is already taken by a different request.",
            params={"pipeline_run_id": run_id},
        )
    return Submission(
        run_id,
        created=False,
        record=existing,
        created_at=existing.created_at,
        workflow_id=existing.workflow_id,
    )


async def _check_payload_size(client: Client, spec: RunSpec, body: RunRequestBody) -> None:
    """413 `request.too_large` naming the largest part when the workflow input is over Temporal's limit."""
    size = await payload_size(client, spec)
    if size <= MAX_PAYLOAD_BYTES:
        return
    source = next((name for name in SOURCE_FIELDS if getattr(body, name) is not None), "mthds_contents")
    parts: Mapping[str, object] = {
        **spec.extra,
        source: spec.bundles,
        "inputs": spec.inputs,
    }
    field = max(parts, key=lambda name: len(pydantic_core.to_json(parts[name])))
    detail = (
        f"The run's input takes {size} bytes once encoded, over the {MAX_PAYLOAD_BYTES} bytes a run "
        f"accepts; its largest part is '{field}'."
    )
    raise request_too_large(detail=detail, limit=MAX_PAYLOAD_BYTES, size=size, field=field)


def _digest_extensions(body: RunRequestBody, resume: ResumeLineage | None) -> dict[str, Any]:
    """The methodflow members of the digest, only those set: a request without them digests as before."""
    extensions: dict[str, Any] = {}
    if body.reuse is not None:
        extensions["reuse"] = body.reuse
    if body.budget is not None:
        extensions["budget"] = body.budget
    if resume is not None:
        extensions["resumed_from"] = resume.resumed_from
    return extensions


def _method_for_digest(body: RunRequestBody, sources: list[BundleSource]) -> list[str] | dict[str, Any]:
    if body.files is not None and isinstance(body.files, dict):
        return dict(body.files)
    return [source.text for source in sources]


def _prepared_spec(
    body: RunRequestBody,
    data: dict[str, Any],
    sources: list[BundleSource],
    caller: Caller,
    settings: ApiSettings,
    verdicts: ValidationCache,
    run_id: str,
    digest_of: Callable[[], str],
    request: Request,
    stored_prefix: str,
    resume: ResumeLineage | None,
) -> RunSpec:
    """Steps 6 and 7 (CPU-bound, on a worker thread), then storage of data URLs and of the method."""
    report = verdicts.validate(sources)
    if not report.is_valid or report.library is None:
        raise _method_invalid(report)
    library = report.library
    store = settings.blob_store
    try:
        pipe_ref = select_pipe(library, report.default_pipe_ref, body.pipe_code)
        run_request = RunRequest(
            pipe_ref=pipe_ref,
            inputs=body.inputs,
            output_name=body.output_name,
            output_multiplicity=body.output_multiplicity,
            dynamic_output_concept_ref=body.output_concept_ref,
        )
        call_site_for(run_request)
        dynamic_concept(library, run_request)
        if resume is not None:
            check_output_unchanged(resume, library, pipe_ref, verdicts)
        if resume is not None and resume.inputs is not None:
            # The original run's inputs, checked and stored at its start: checked again by name only.
            refuse_unknown_inputs(library, library.pipes[pipe_ref], resume.inputs)
            digest = digest_of()
            return _spec(
                body,
                data,
                sources,
                caller,
                settings,
                run_id,
                digest,
                request,
                library,
                pipe_ref,
                resume.inputs,
                resume,
            )
        # Names first: an unknown input is refused before any value is fetched, stored or read.
        refuse_unknown_inputs(library, library.pipes[pipe_ref], body.inputs)
        digest = digest_of()  # of the inputs as sent, before any is stored (§7)
        check_input_urls(  # before anything is stored: a refused request leaves no files behind
            body.inputs or {},
            storage_prefix=caller.storage_prefix,
            store=store,
            allow_private=settings.allow_private_input_urls,
            # A file input's bare string is its url (`shared.runtime.caller_inputs`): judged as one.
            files=FileInputs(library, library.pipes[pipe_ref]),
        )
        inputs = store_data_urls(
            body.inputs or {},
            store,
            key_prefix=run_key(caller.storage_prefix, run_id, "inputs"),
            max_bytes=settings.max_input_file_bytes,
        )
        memory = prepare_memory(library, library.pipes[pipe_ref], run_request, run_id)
    except InputRefused as refused:
        raise input_refused(refused) from refused
    inputs = store_large_inputs(
        inputs,
        memory,
        store,
        key_prefix=stored_prefix,
        max_bytes=settings.content_inline_max_bytes,
    )
    return _spec(
        body, data, sources, caller, settings, run_id, digest, request, library, pipe_ref, inputs, resume
    )


def _spec(
    body: RunRequestBody,
    data: dict[str, Any],
    sources: list[BundleSource],
    caller: Caller,
    settings: ApiSettings,
    run_id: str,
    digest: str,
    request: Request,
    library: Library,
    pipe_ref: str,
    inputs: dict[str, Any],
    resume: ResumeLineage | None,
) -> RunSpec:
    """The workflow input, once the request is checked and its inputs stored; the method is stored here."""
    store = settings.blob_store
    method_digest = put_method(store, sources)
    # The workflow input carries the bundles; the tree, which holds them too, is stored and named by
    # digest so the method travels once (the v0.16 list form was never kept, as before).
    files_digest = put_method_tree(store, body.files) if isinstance(body.files, dict) else None
    return RunSpec(
        run_id=run_id,
        identity=caller.identity,
        storage_prefix=caller.storage_prefix,
        request_id=request_id_of(request.scope),
        created_at=rfc3339(datetime.now(UTC)),
        request_digest=digest,
        method_digest=method_digest,
        bundles=[BundleText(path=source.path, text=source.text) for source in sources],
        pipe_ref=pipe_ref,
        pipe_code=library.pipes[pipe_ref].code,
        inputs=inputs,
        output_name=body.output_name,
        output_multiplicity=body.output_multiplicity,
        dynamic_output_concept_ref=body.output_concept_ref,
        callback_urls=body.callback_urls or [],
        public_base_url=public_origin(request, settings),
        run_timeout_seconds=body.run_timeout_seconds or settings.run_timeout_seconds,
        batch_failures=BatchFailureMode(body.batch_failures or BatchFailureMode.FAIL),
        files_digest=files_digest,
        extra=unknown_members(data),
        resumed_from=resume.resumed_from if resume is not None else None,
        reuse_runs=resume.reuse_runs if resume is not None else [],
        reuse_tenant=body.reuse == "tenant",
        budget=run_budget(body.budget),
    )


def refuse_markers(inputs: Mapping[str, Any] | None) -> None:
    """Inputs shaped as the service's stored-content markers are refused: a caller's could name storage
    that is not theirs (only the API writes them, after checking the content they stand for)."""
    if holds_marker(dict(inputs or {})):
        raise InputRefused(
            InputCode.RESERVED_KEY,
            f"the inputs carry an object with '{REF_KEY}' and 'kind', which only the service writes",
            {"keys": [REF_KEY]},
        )


def _memo(spec: RunSpec, caller: Caller) -> dict[str, Any]:
    return {
        "identity": caller.identity,
        # The tenant (mode and identity) and the caller's run id: what reads check and listings show.
        "tenant": caller.tenant_key,
        "run_id": spec.run_id,
        "request_digest": spec.request_digest,
        "pipe_code": spec.pipe_code,
        "callback_urls": spec.callback_urls,
        "request_id": spec.request_id,
        "created_at": spec.created_at,
        # Only when set: records read it without the run's history (`api.run_records`).
        **({"resumed_from": spec.resumed_from} if spec.resumed_from is not None else {}),
    }


def _method_invalid(report: ValidationReport) -> ProblemError:
    errors = [issue.to_problem_item() for issue in report.issues]
    return ProblemError(
        ProblemCode.METHOD_INVALID,
        f"The method does not validate ({len(errors)} fault(s)).",
        errors=errors,
    )


def input_refused(refused: InputRefused) -> ProblemError:
    """An `InputRefused` as its problem: the code names the check, params name the input."""
    code = ProblemCode(refused.code)
    params = {key: value for key, value in refused.params.items() if value is not None}
    location = {"field": params["field"]} if "field" in params else None
    detail = refused.message[0].upper() + refused.message[1:]
    return ProblemError(
        code, detail if detail.endswith(".") else f"{detail}.", params=params, location=location
    )
