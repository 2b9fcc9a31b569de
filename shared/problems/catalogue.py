"""The catalogue of problem codes (http-api.md §13.2): per code its status, title, domain, retry and next step.

Pure data. Titles are fixed per code; `detail` is what varies from one answer to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Domain = Literal["input", "method", "account", "operator", "runtime"]
Retry = Literal["no", "yes", "outcome_unknown"]
NextStepKind = Literal[
    "retry", "wait", "read_run", "refresh", "change_input", "change_method", "change_model",
    "check_credentials", "request_access", "check_account", "fix_configuration", "upgrade",
    "contact_owner", "report",
]  # fmt: skip


class ProblemCode(StrEnum):
    """Every dotted code the service answers with."""

    AUTH_MISSING_CREDENTIAL = "auth.missing_credential"
    AUTH_INVALID_CREDENTIAL = "auth.invalid_credential"
    AUTH_CREDENTIAL_EXPIRED = "auth.credential_expired"
    REQUEST_NOT_FOUND = "request.not_found"
    RUN_NOT_FOUND = "run.not_found"
    REQUEST_METHOD_NOT_ALLOWED = "request.method_not_allowed"
    REQUEST_IDEMPOTENCY_CONFLICT = "request.idempotency_conflict"
    RUN_FAILED = "run.failed"
    RUN_ALREADY_ENDED = "run.already_ended"
    RUN_CANCELLED = "run.cancelled"
    REQUEST_TOO_LARGE = "request.too_large"
    REQUEST_MALFORMED = "request.malformed"
    REQUEST_INVALID = "request.invalid"
    REQUEST_PIPE_NOT_FOUND = "request.pipe_not_found"
    REQUEST_PIPE_UNSPECIFIED = "request.pipe_unspecified"
    REQUEST_PIPE_AMBIGUOUS = "request.pipe_ambiguous"
    REQUEST_BLOBS_MISSING = "request.blobs_missing"
    METHOD_INVALID = "method.invalid"
    INPUT_MISSING = "input.missing"
    INPUT_WRONG_CONCEPT = "input.wrong_concept"
    INPUT_INVALID = "input.invalid"
    INPUT_WRONG_MULTIPLICITY = "input.wrong_multiplicity"
    INPUT_FILE_UNREADABLE = "input.file_unreadable"
    INPUT_TOO_LARGE = "input.too_large"
    INPUT_REFERENCE_NOT_FOUND = "input.reference_not_found"
    INPUT_URL_UNREACHABLE = "input.url_unreachable"
    SECURITY_INPUT_URL_REFUSED = "security.input_url_refused"
    RUN_TIMED_OUT = "run.timed_out"
    PIPELEX_RESERVED_KEY = "pipelex.security.reserved_key"
    PIPELEX_ORCHESTRATION_OVERRIDE_FORBIDDEN = "pipelex.deployment.orchestration_override_forbidden"
    MODEL_UNKNOWN = "model.unknown"
    PROVIDER_RATE_LIMITED = "provider.rate_limited"
    RUNTIME_MISCONFIGURED = "runtime.misconfigured"
    RUNTIME_UNEXPECTED = "runtime.unexpected"
    RUNTIME_UNSUPPORTED = "runtime.unsupported"
    MODEL_UNAVAILABLE = "model.unavailable"
    PIPELEX_CUSTOM_CODE_REQUIRES_SANDBOX = "pipelex.deployment.custom_code_requires_sandbox"
    PROVIDER_UNAVAILABLE = "provider.unavailable"
    PROVIDER_FAILED = "provider.failed"
    PROVIDER_RESPONSE_INVALID = "provider.response_invalid"
    PROVIDER_CREDENTIAL_REFUSED = "provider.credential_refused"
    MODEL_OUTPUT_SCHEMA_MISMATCH = "model.output_schema_mismatch"
    RUNTIME_UNAVAILABLE = "runtime.unavailable"
    PROVIDER_TIMEOUT = "provider.timeout"
    RUN_TERMINATED = "run.terminated"
    DELIVERY_NOT_FOUND = "delivery.not_found"
    DELIVERY_NOT_STARTED = "delivery.not_started"
    DELIVERY_IN_PROGRESS = "delivery.in_progress"
    DELIVERY_ENDED = "delivery.ended"
    TENANT_RUN_LIMIT_REACHED = "tenant.run_limit_reached"
    REQUEST_UNSUPPORTED = "request.unsupported"
    AUTH_FORBIDDEN = "auth.forbidden"
    SECURITY_INPUT_PATH_REFUSED = "security.input_path_refused"
    BUILD_NO_BUNDLE = "build.no_bundle"
    RUN_NOT_RESUMABLE = "run.not_resumable"
    METHOD_RESUME_OUTPUT_CHANGED = "method.resume_output_changed"
    RUN_BUDGET_EXCEEDED = "run.budget_exceeded"
    TENANT_DAILY_BUDGET_EXCEEDED = "tenant.daily_budget_exceeded"
    JOB_NOT_FOUND = "job.not_found"

    @property
    def type_uri(self) -> str:
        """The problem `type`: the reference documents its own `pipelex.*` codes, MTHDS the rest."""
        if self.value.startswith("pipelex."):
            return f"https://docs.pipelex.com/errors/{self.value}"
        return f"https://mthds.ai/errors/{self.value}"


@dataclass(frozen=True, slots=True)
class ProblemSpec:
    """What is fixed for a code. `status` is None for codes that only ever describe a run's end."""

    status: int | None
    domain: Domain
    retry: Retry
    title: str
    next_step: NextStepKind
    next_step_detail: str


_S = ProblemSpec
_FIX = "Correct the request, then send it again."
_REPORT = "Report the problem to the service's operator, quoting the request id."
_RETRY = "Send the same request again later."

# One code per line, as in the spec's table: easier to check against it than a formatted cascade.
CATALOGUE: dict[ProblemCode, ProblemSpec] = {
    ProblemCode.AUTH_MISSING_CREDENTIAL: _S(401, "account", "no", "No credential was sent", "check_credentials", "Send an 'Authorization: Bearer <key>' header."),
    ProblemCode.AUTH_INVALID_CREDENTIAL: _S(401, "account", "no", "The credential was refused", "check_credentials", "Check the key or token, then send the request again."),
    ProblemCode.AUTH_CREDENTIAL_EXPIRED: _S(401, "account", "no", "The credential has expired", "refresh", "Obtain a fresh token, then send the request again."),
    ProblemCode.REQUEST_NOT_FOUND: _S(404, "input", "no", "No such route", "upgrade", "Check the path against the API documentation (/docs, /openapi.json)."),
    ProblemCode.RUN_NOT_FOUND: _S(404, "input", "no", "No such run", "change_input", "Check the run id."),
    ProblemCode.REQUEST_METHOD_NOT_ALLOWED: _S(405, "input", "no", "The route does not accept this method", "change_input", "Use one of the methods listed in the Allow header."),
    ProblemCode.REQUEST_IDEMPOTENCY_CONFLICT: _S(409, "input", "no", "The run id is taken by a different request", "change_input", "Use a new run id or idempotency key for a different request."),
    ProblemCode.RUN_FAILED: _S(409, "runtime", "no", "The run failed", "read_run", "Read the run's error to see why it ended."),
    ProblemCode.RUN_ALREADY_ENDED: _S(409, "input", "no", "The run has already ended", "read_run", "Read the run's results or status instead."),
    ProblemCode.RUN_CANCELLED: _S(409, "input", "yes", "The run was cancelled", "retry", "Start a new run if the result is still wanted."),
    ProblemCode.REQUEST_TOO_LARGE: _S(413, "input", "no", "The request is too large", "change_input", "Send a smaller request, within the limits of GET /v1/version."),
    ProblemCode.REQUEST_MALFORMED: _S(422, "input", "no", "The request body is not a JSON document", "change_input", "Send the body as a UTF-8 JSON object."),
    ProblemCode.REQUEST_INVALID: _S(422, "input", "no", "The request does not match the route's schema", "change_input", _FIX),
    ProblemCode.REQUEST_PIPE_NOT_FOUND: _S(422, "input", "no", "The pipe was not found", "change_input", "Name a pipe of the method, or one of the suggestions."),
    ProblemCode.REQUEST_PIPE_UNSPECIFIED: _S(422, "input", "no", "No pipe to run was named", "change_input", "Send 'pipe_code', or declare 'main_pipe' in the bundle."),
    ProblemCode.REQUEST_PIPE_AMBIGUOUS: _S(422, "input", "no", "The pipe code names pipes in several domains", "change_input", "Prefix the pipe code with its domain."),
    ProblemCode.REQUEST_BLOBS_MISSING: _S(422, "input", "no", "The request refers to files the service does not hold", "change_input", "Upload the files named in 'missing_blobs' (POST /v1/blobs/missing, then PUT each to the URL it names), or send them inline."),
    ProblemCode.METHOD_INVALID: _S(422, "method", "no", "The method does not validate", "change_method", "Fix the faults listed in 'errors', then send the method again."),
    ProblemCode.INPUT_MISSING: _S(422, "input", "no", "A declared input is missing", "change_input", "Supply every input the pipe declares."),
    ProblemCode.INPUT_WRONG_CONCEPT: _S(422, "input", "no", "An input has the wrong concept", "change_input", "Give the input a concept the pipe accepts."),
    ProblemCode.INPUT_INVALID: _S(422, "input", "no", "An input does not fit its concept", "change_input", "Shape the input's content as its concept requires."),
    ProblemCode.INPUT_WRONG_MULTIPLICITY: _S(422, "input", "no", "An input has the wrong multiplicity", "change_input", "Send a single item or a list, as the pipe declares."),
    ProblemCode.INPUT_FILE_UNREADABLE: _S(422, "input", "no", "An input file cannot be read", "change_input", "Send the file again with valid content."),
    ProblemCode.INPUT_TOO_LARGE: _S(422, "input", "no", "An input file is too large", "change_input", "Send a smaller file."),
    ProblemCode.INPUT_REFERENCE_NOT_FOUND: _S(422, "input", "no", "A storage reference was not found", "change_input", "Refer only to stored files of your own runs."),
    ProblemCode.INPUT_URL_UNREACHABLE: _S(422, "input", "yes", "An input URL could not be downloaded", "retry", "Check that the URL is reachable, then start the run again."),
    ProblemCode.SECURITY_INPUT_URL_REFUSED: _S(422, "input", "no", "A URL in the request was refused", "change_input", "Use a public http(s) URL."),
    ProblemCode.RUN_TIMED_OUT: _S(422, "method", "no", "The run took longer than allowed", "change_method", "Make the method do less per run."),
    ProblemCode.PIPELEX_RESERVED_KEY: _S(422, "input", "no", "The inputs carry a reserved key", "change_input", "Remove '__class__' and '__module__' keys from the inputs."),
    ProblemCode.PIPELEX_ORCHESTRATION_OVERRIDE_FORBIDDEN: _S(422, "input", "no", "The orchestration mode cannot be overridden", "change_input", "Omit 'orchestration_mode' or set it to 'temporal'."),
    ProblemCode.MODEL_UNKNOWN: _S(422, "method", "no", "The model is unknown", "change_model", "Name a model of GET /v1/models."),
    ProblemCode.PROVIDER_RATE_LIMITED: _S(429, "runtime", "yes", "The model provider is rate limiting", "wait", "Wait for the time given in Retry-After, then try again."),
    ProblemCode.RUNTIME_MISCONFIGURED: _S(500, "operator", "no", "The service is misconfigured", "report", _REPORT),
    ProblemCode.RUNTIME_UNEXPECTED: _S(500, "runtime", "no", "An unexpected error occurred", "report", _REPORT),
    ProblemCode.RUNTIME_UNSUPPORTED: _S(501, "operator", "no", "The service does not support this", "report", _REPORT),
    ProblemCode.MODEL_UNAVAILABLE: _S(501, "operator", "no", "No backend serves this model", "report", _REPORT),
    ProblemCode.PIPELEX_CUSTOM_CODE_REQUIRES_SANDBOX: _S(501, "operator", "no", "Custom code requires a sandbox", "report", "Remove the Python files, or ask the operator for a sandboxed runner."),
    ProblemCode.PROVIDER_UNAVAILABLE: _S(502, "runtime", "yes", "The model provider is unavailable", "retry", _RETRY),
    ProblemCode.PROVIDER_FAILED: _S(502, "runtime", "yes", "The model provider failed", "retry", _RETRY),
    ProblemCode.PROVIDER_RESPONSE_INVALID: _S(502, "runtime", "yes", "The model provider's answer was unusable", "retry", _RETRY),
    ProblemCode.PROVIDER_CREDENTIAL_REFUSED: _S(502, "operator", "no", "The model provider refused the service's credential", "report", _REPORT),
    ProblemCode.MODEL_OUTPUT_SCHEMA_MISMATCH: _S(502, "runtime", "yes", "The model's output did not fit the expected structure", "retry", _RETRY),
    ProblemCode.RUNTIME_UNAVAILABLE: _S(503, "runtime", "yes", "The service is temporarily unavailable", "retry", "Wait for the time given in Retry-After, then send the request again."),
    ProblemCode.PROVIDER_TIMEOUT: _S(504, "runtime", "yes", "The model provider timed out", "retry", _RETRY),
    ProblemCode.DELIVERY_NOT_FOUND: _S(404, "input", "no", "No such delivery", "change_input", "Read GET /v1/runs/{id}/deliveries for the run's delivery ids."),
    ProblemCode.DELIVERY_NOT_STARTED: _S(409, "input", "yes", "The delivery has not started", "wait", "Wait until the run has ended; a run ended by Temporal itself sends no event."),
    ProblemCode.DELIVERY_IN_PROGRESS: _S(409, "input", "yes", "The delivery is still being attempted", "wait", "Wait until it ends, or cancel it, then redeliver."),
    ProblemCode.DELIVERY_ENDED: _S(409, "input", "no", "The delivery has already ended", "read_run", "Read the run's deliveries; redeliver to send the event again."),
    ProblemCode.TENANT_RUN_LIMIT_REACHED: _S(429, "account", "yes", "The tenant has as many runs running as it may", "wait", "Wait for one of the tenant's runs to end (Retry-After gives a delay), then send the request again."),
    ProblemCode.REQUEST_UNSUPPORTED: _S(422, "input", "no", "The request asks for something this service does not do", "change_input", _FIX),
    ProblemCode.AUTH_FORBIDDEN: _S(403, "account", "no", "The request is not allowed", "request_access", "Ask for a fresh signed upload target (POST /v1/blobs/missing), then upload again."),
    ProblemCode.SECURITY_INPUT_PATH_REFUSED: _S(422, "input", "no", "A path of the method tree is refused", "change_input", "Use relative paths inside the tree, without '..' segments."),
    ProblemCode.BUILD_NO_BUNDLE: _S(502, "runtime", "no", "The builder's model answered no MTHDS bundle", "retry", "Rephrase the brief, or choose another model for the builder."),
    ProblemCode.RUN_NOT_RESUMABLE: _S(409, "input", "no", "The run cannot be resumed", "read_run", "Resume only a run that ended FAILED, CANCELLED or timed out; read a completed run's results instead."),
    ProblemCode.METHOD_RESUME_OUTPUT_CHANGED: _S(422, "method", "no", "The corrected method changes the main pipe's output", "change_method", "Keep the main pipe's output concept as the original run's, or start a new run instead of resuming."),
    ProblemCode.RUN_BUDGET_EXCEEDED: _S(422, "input", "no", "The run's budget cannot cover its next model call", "change_input", "Resume the run with a larger 'budget' (its completed calls are reused, not paid again), or make the method spend less."),
    ProblemCode.JOB_NOT_FOUND: _S(404, "input", "no", "No such job", "change_input", "Check the job id the bulk resume answered."),
    ProblemCode.TENANT_DAILY_BUDGET_EXCEEDED: _S(429, "account", "yes", "The tenant has spent what it may today", "wait", "Resume the run on the next UTC day (its completed calls are reused), or ask the operator to raise the tenant's daily limit."),
    ProblemCode.RUN_TERMINATED: _S(None, "operator", "no", "The run was terminated by an operator", "report", "Ask the operator why the run was terminated."),
}  # fmt: skip
