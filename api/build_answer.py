"""The answer of `/v1/build/pipeline` (http-api.md §11.1), from the builder run's last `BuildDraft`.

The draft is validated again here with the API's deck (the same deck the workers run with): the
answer's `pipe_io_contracts`, `inputs` template and the legacy blueprint come from that verdict.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shared.builder.draft_check import DRAFT_PATH
from shared.language.model_deck import ModelDeck
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from shared.tooling.input_forms import input_form
from shared.tooling.inputs_template import inputs_template

VALID_MESSAGE = "Pipeline generated and validated"


def build_answer(
    draft: dict[str, Any], usages: Sequence[dict[str, Any]], run_id: str, deck: ModelDeck, *, legacy: bool
) -> dict[str, Any]:
    """The 200 body: the bundle, its verdict, the rounds with their faults, the usage and the inputs;
    `legacy` adds the members of §12 (`plx_content`, `pipelex_bundle_blueprint`, `pipe_structures`,
    `success`)."""
    bundle: str = draft["bundle"]
    blueprint: dict[str, Any] | None = None
    attempts = int(draft["attempt"])
    body: dict[str, Any] = {"is_valid": bool(draft["is_valid"])}
    if draft["is_valid"]:
        # The worker validated and dry-ran the draft; its contracts need only the static checks here.
        report = validate_sources([BundleSource(path=DRAFT_PATH, text=bundle)], deck, dry_run=False)
        pipe_ref = str(draft["pipe_ref"])
        body["pipe_ref"] = pipe_ref
        body["mthds_content"] = bundle
        body["files"] = {DRAFT_PATH: bundle}
        contracts = {pipe_ref: report.pipe_io_contracts[pipe_ref]}
        if report.library is not None:
            form = input_form(report.library, report.bundle_blueprints, contracts)
            body["inputs"] = inputs_template(form[pipe_ref], explicit=True)
        body["pipe_io_contracts"] = contracts
        blueprint = report.bundle_blueprints[0] if report.bundle_blueprints else None
        message = VALID_MESSAGE
    else:
        body["errors"] = json.loads(draft["errors_json"])
        body["mthds_content"] = bundle
        body["files"] = {DRAFT_PATH: bundle}
        message = f"The pipeline still does not validate after {attempts - 1} repair round(s)."
    body["attempts"] = attempts
    body["repairs"] = json.loads(draft["repairs_json"])
    body["usage"] = usage_summary(usages)
    body["pipeline_run_id"] = run_id
    body["message"] = message
    if legacy:
        body.update(plx_content=bundle, pipelex_bundle_blueprint=blueprint, pipe_structures=None)
        body["success"] = body["is_valid"]
    return body


def usage_summary(usages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The build's model calls: their count, tokens by category and cost (null when a model has no price)."""
    tokens: dict[str, int] = {}
    costs = [usage.get("cost") for usage in usages]
    for usage in usages:
        counts: dict[str, int] = usage.get("nb_tokens_by_category") or {}
        for category, count in counts.items():
            tokens[category] = tokens.get(category, 0) + int(count)
    priced = [cost for cost in costs if isinstance(cost, int | float)]
    return {
        "model_calls": len(usages),
        "tokens": tokens,
        "cost_usd": sum(priced) if priced and len(priced) == len(costs) else None,
    }
