"""The content address of a whole batch chunk, the key of a chunk memo entry (issue 19, Speed). Pure.

A resumed batch's chunk can be answered from the memo invocation by invocation (`worker/memo_walk.py`),
which costs a walk of the interpreter per item. A chunk whose every item completed in an earlier run
also leaves one entry for the whole chunk, keyed here, so that a resume copies its outputs in one
read.

The key is conservative on purpose: it holds the *whole* method (the digest of its sources, so every
pipe, concept, prompt and model setting) and the code digest of every function its PipeFuncs name,
rather than only what the branch reads. Any change to the method therefore misses here, and the chunk
falls back to the walk, which still reuses every invocation whose own key is unchanged. What it holds
beside: the batch's pipes and item naming, the items' contents, the memory around the batch (without
stuff codes, which count within one run) and whether outputs may take a dynamic concept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, cast

from shared.runs.memo_keys import MEMO_KEY_VERSION, canonical_json

CHUNK_KEY_PREFIX = "chunk-"  # chunk entries' folders beside the invocation entries' (hex digests)


def chunk_memo_key(
    *,
    method_digest: str,
    function_digests: Mapping[str, str],
    batch: Mapping[str, Any],
    items: list[Any],
    context: Mapping[str, Any],
) -> str:
    """The key of a chunk: `batch` holds the batch's pipes, item naming and output concept; `context`
    is the encoded memory around the batch (`memory_codec.encode_memory`)."""
    digest = hashlib.sha256(
        canonical_json(
            {
                "version": MEMO_KEY_VERSION,
                "method": method_digest,
                "functions": dict(function_digests),
                "batch": dict(batch),
                "items": items,
                "context": _without_codes(context),
            }
        )
    ).hexdigest()
    return f"{CHUNK_KEY_PREFIX}{digest}"


def _without_codes(context: Mapping[str, Any]) -> dict[str, Any]:
    root = cast("dict[str, dict[str, Any]]", context.get("root") or {})
    return {
        **context,
        "root": {
            name: {field: value for field, value in stuff.items() if field != "code"}
            for name, stuff in root.items()
        },
    }
