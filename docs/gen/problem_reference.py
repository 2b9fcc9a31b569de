"""The troubleshooting page, written from the problem catalogue (`shared/problems/catalogue.py`) at build time.

Every code, its status, domain, retry and next step come from `CATALOGUE`; `OPERATOR_HINTS` adds, for
the codes an operator can fix, where to look.
"""

from __future__ import annotations

import re
from typing import Final

from shared.problems.catalogue import CATALOGUE, Domain, ProblemCode, ProblemSpec

PAGE = "troubleshooting.md"

DOMAIN_TITLES: Final[dict[Domain, str]] = {
    "input": "The request or its inputs",
    "method": "The method (the bundles)",
    "account": "Credentials and tenants",
    "operator": "The service's set-up (for its operator)",
    "runtime": "Runs, providers and the service at run time",
}

OPERATOR_HINTS: Final[dict[ProblemCode, str]] = {
    ProblemCode.AUTH_MISSING_CREDENTIAL: "Operator: `AUTH_MODE` decides which credential is asked for.",
    ProblemCode.AUTH_INVALID_CREDENTIAL: "Operator: the key must be one of `API_KEY`'s entries (`tenant:key` entries are sent as `key` alone), or a JWT signed with `JWT_SECRET_KEY` (HS256).",
    ProblemCode.AUTH_CREDENTIAL_EXPIRED: "Operator: `JWT_LEEWAY_SECONDS` allows for clock skew.",
    ProblemCode.REQUEST_TOO_LARGE: "Operator: the limits are the `MAX_*` settings of the API (configuration reference).",
    ProblemCode.MODEL_UNKNOWN: "Operator: the deck is `MODEL_DECK` over the built-in one; API and workers must read the same file.",
    ProblemCode.MODEL_UNAVAILABLE: "Operator: give the workers the provider's key (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), on the pool the model's kind is routed to.",
    ProblemCode.PROVIDER_CREDENTIAL_REFUSED: "Operator: the provider refused the workers' key: rotate it (see Operations).",
    ProblemCode.PROVIDER_UNAVAILABLE: "Operator: PipeSearch needs a search-capable provider in the deck; otherwise the provider is down.",
    ProblemCode.RUNTIME_UNAVAILABLE: "Operator: the API cannot reach Temporal: `GET /ready` says so; check `TEMPORAL_ADDRESS`, the namespace, TLS and the search attributes.",
    ProblemCode.RUNTIME_MISCONFIGURED: "Operator: the API's log names the setting at fault.",
    ProblemCode.RUNTIME_UNEXPECTED: "Operator: find the request id in the API's or worker's log (`LOG_FORMAT=json` carries it).",
    ProblemCode.TENANT_RUN_LIMIT_REACHED: "Operator: `TENANT_MAX_CONCURRENT_RUNS` sets the limit (0: none).",
    ProblemCode.SECURITY_INPUT_URL_REFUSED: "Operator: for local development only, `ALLOW_PRIVATE_CALLBACK_URLS` / `ALLOW_PRIVATE_INPUT_URLS` lift the address rule.",
    ProblemCode.AUTH_FORBIDDEN: "Operator: every API instance behind one address needs the same `BLOB_UPLOAD_SIGNING_KEY`.",
    ProblemCode.PIPELEX_CUSTOM_CODE_REQUIRES_SANDBOX: "PipeFunc functions are registered in the workers (`FUNCTION_MODULES` or an entry point), never sent as Python files.",
    ProblemCode.RUN_TIMED_OUT: "Operator: `RUN_TIMEOUT_SECONDS` bounds every run; a request may ask for less.",
    ProblemCode.RUN_TERMINATED: "Only a run's end carries it: someone terminated the workflow in Temporal (UI or CLI).",
}  # fmt: skip


def plain_text(text: str) -> str:
    """The catalogue's prose as Markdown shows it verbatim (`__class__`, `<key>` and `*` stay as written)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", text)


def _row(code: ProblemCode, spec: ProblemSpec) -> str:
    status = str(spec.status) if spec.status is not None else "run's end only"
    todo = plain_text(spec.next_step_detail)
    hint = OPERATOR_HINTS.get(code)
    if hint:
        todo = f"{todo}<br>{hint}"
    cells = [
        f"`{code.value}`",
        f"{status}<br>retry: {spec.retry}",
        plain_text(spec.title),
        f"`{spec.next_step}`: {todo}",
    ]
    return "| " + " | ".join(cells) + " |"


def troubleshooting_page() -> str:
    """The whole page, Markdown: one table per problem domain, codes by status."""
    parts = [_INTRO]
    for domain, title in DOMAIN_TITLES.items():
        codes = sorted(
            (code for code, spec in CATALOGUE.items() if spec.domain == domain),
            key=lambda code: (CATALOGUE[code].status or 999, code.value),
        )
        if not codes:
            continue
        lines = ["| Code | Status | What it means | What to do |", "|---|---|---|---|"]
        lines += [_row(code, CATALOGUE[code]) for code in codes]
        parts += [f"## {title}", "\n".join(lines)]
    parts.append(_SYMPTOMS)
    return "\n\n".join(parts) + "\n"


_INTRO = """# Troubleshooting

!!! note "Generated"
    The tables are written at build time from the problem catalogue
    (`shared/problems/catalogue.py`): every code the service answers with is here, with the next step
    the answer itself carries.

Every error answer is an RFC 7807 problem document (`Content-Type: application/problem+json`):
`code` is the dotted code below, `domain` its table, `retry` says whether sending the same request
again may succeed (`outcome_unknown`: it may already have taken effect), `next_step` is what to do,
`params` and `location` name the faulty field, pipe or input, and `request_id` is the id to quote in a
report (the API's and worker's logs carry it). A run that fails keeps its problem: `GET
/v1/runs/{id}/status` shows it as `error`, and `/results` answers `409 run.failed` carrying it.

```json
{"type": "https://mthds.ai/errors/runtime.unavailable", "title": "The service is temporarily unavailable",
 "status": 503, "detail": "Temporal cannot be reached right now.", "code": "runtime.unavailable",
 "domain": "runtime", "retry": "yes", "retry_after": 5,
 "next_step": {"kind": "retry", "detail": "Wait for the time given in Retry-After, then send the request again."},
 "params": {"component": "temporal"}, "request_id": "01M8XXSNWTK2SQQA409TG0H95H"}
```"""

_SYMPTOMS = """## Symptoms without a code

| Symptom | Likely cause | What to do |
|---|---|---|
| A run stays `STARTED` or `RUNNING` and no pipe progresses | no worker polls the queue its next step is on | `GET /ready` lists `unpolled_task_queues`; start a worker of that pool (`methodflow worker --pool NAME`) |
| `/status` answers slowly or its progress is stale | no worker answers the run's queries | start a worker; an ended run's progress needs none |
| `methodflow dev` exits at once naming a port | the port is taken | choose another: `--port`, `--temporal-port`, `--temporal-ui-port` |
| A process stops at start-up with `NAME: ...` | a setting the type refuses | fix that variable (see the configuration reference) |
| A callback never arrives | the receiver refuses, or the worker lacks `COMPLETION_CALLBACK_SECRET` | `GET /v1/runs/{id}/deliveries` shows every attempt and its status or error; the worker logs one line per failed attempt |
| Runs fail after an upgrade with nondeterminism errors in the worker log | workflow code changed under runs in flight | roll back the workers, then upgrade with worker versioning (see Operations) |"""
