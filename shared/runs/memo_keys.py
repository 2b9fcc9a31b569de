"""Content addresses of operator invocations, the keys of the memo that lets a run reuse work. Pure.

An invocation's key is a digest of everything its output depends on, and of nothing that merely names
the run it happened in:
- the pipe's definition (`pipe_digest`): its blueprint as parsed (prompt, model and its settings,
  templates, output), the domain's system prompt, and for a PipeFunc the registered function's name
  and a digest of its code, so that a changed function is a changed pipe;
- the JSON Schemas of the concepts it reads and writes, so that a changed structure is a changed pipe;
- its input contents by name (stored contents by their `pipelex-storage://` marker, which names the
  content's own key: a reused upstream output carries the same marker into its readers);
- the shape of the output asked (concept, list, count, `nb_output`) and a binding step's path.

Left out on purpose: stuff codes (counters of one run), the seed (it holds the run id) and the
storage prefix (the memo is read only inside the tenant that wrote it).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from shared.language.content_schema import concept_json_schema
from shared.language.library import Library, PipeEntry
from shared.language.pipe_blueprints import PipeFunc

# Bump when the key's recipe changes: entries written under another recipe are never matched.
MEMO_KEY_VERSION = 1


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def function_digest(name: str, function: Callable[..., Any] | None) -> str:
    """The registered function's identity: its name and a digest of its source (else its bytecode)."""
    if function is None:
        return _digest({"function": name, "code": None})
    return _digest({"function": name, "code": _code_digest(function)})


@lru_cache(maxsize=1024)
def _code_digest(function: Callable[..., Any]) -> str:
    target = inspect.unwrap(function)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        code = getattr(target, "__code__", None)
        source = repr((getattr(target, "__qualname__", repr(target)), code.co_code if code else None))
    return hashlib.sha256(source.encode()).hexdigest()


def pipe_digest(entry: PipeEntry, function: Callable[..., Any] | None = None) -> str:
    """A digest of the pipe's definition; `function` is the PipeFunc's registered function, if any."""
    blueprint = entry.blueprint
    parts: dict[str, Any] = {
        "version": MEMO_KEY_VERSION,
        "ref": entry.ref,
        "blueprint": blueprint.model_dump(mode="json"),
        "system_prompt": entry.system_prompt,
    }
    if isinstance(blueprint, PipeFunc):
        parts["function"] = function_digest(blueprint.function_name, function)
    return _digest(parts)


def invocation_concepts(inputs: Mapping[str, tuple[str, Any, bool]], output: Mapping[str, Any]) -> list[str]:
    """The concepts an invocation reads and writes, whose schemas its key holds."""
    concepts = {concept for concept, _, _ in inputs.values()}
    output_concept = output.get("concept")
    if isinstance(output_concept, str):
        concepts.add(output_concept)
    return sorted(concepts)


def concept_schema_digest(library: Library, concept: str) -> str:
    return _digest(concept_json_schema(library, concept))


def invocation_key(
    pipe: str,
    inputs: Mapping[str, tuple[str, Any, bool]],
    output: Mapping[str, Any],
    schemas: Mapping[str, str],
) -> str:
    """The memo key of one invocation of the pipe whose `pipe_digest` is `pipe`.

    `inputs` maps each input name to (concept, content, is_list); `output` is the asked shape
    (concept, is_list, count, nb_output); `schemas` holds `concept_schema_digest` of every concept of
    `invocation_concepts`.
    """
    return _digest(
        {
            "pipe": pipe,
            "inputs": {
                name: {"concept": concept, "content": content, "is_list": is_list}
                for name, (concept, content, is_list) in inputs.items()
            },
            "output": dict(output),
            "schemas": dict(schemas),
        }
    )
