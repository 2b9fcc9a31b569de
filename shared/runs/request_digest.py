"""The request digest of idempotency (http-api.md §7): what makes two run requests "the same". Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def request_digest(
    *,
    identity: str,
    method: Sequence[str] | Mapping[str, Any],
    pipe_code: str | None,
    inputs: Any,
    output_name: str | None,
    output_multiplicity: bool | int | str | None,
    dynamic_output_concept_ref: str | None,
    callback_urls: Sequence[str] | None,
    extensions: Mapping[str, Any] | None = None,
) -> str:
    """SHA-256 hex of the canonical JSON of the fields §7 lists (run id, headers, unknown keys excluded).

    `method` is the bundle texts in order, or a `files` tree as path → text/base64 entry; inputs are
    taken before data URLs are stored, so a resent request digests the same. `extensions`: the
    methodflow members that change what the run does (`reuse`, `budget`, a resume's `resumed_from`),
    only those set, so that a request without them digests as before they existed.
    """
    canonical = {
        "identity": identity,
        "method": method if isinstance(method, Mapping) else list(method),
        "pipe_code": pipe_code,
        "inputs": inputs,
        "output_name": output_name,
        "output_multiplicity": normalize_multiplicity(output_multiplicity),
        "dynamic_output_concept_ref": dynamic_output_concept_ref,
        "callback_urls": list(callback_urls) if callback_urls is not None else None,
    }
    if extensions:
        canonical["extensions"] = dict(extensions)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_multiplicity(value: bool | int | str | None) -> bool | int:
    """`true`/"variable" → True; False/"single"/None/1 → False; a count N ≥ 2 → N."""
    if value is True or value == "variable":
        return True
    if value is None or value is False or value == "single" or value == 1:
        return False
    return value if isinstance(value, int) else False
