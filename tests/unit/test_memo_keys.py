"""Content addresses of operator invocations: what changes a key, and what must not."""

from __future__ import annotations

from typing import Any

from shared.language.library import Library
from shared.language.report import BundleSource
from shared.language.validator import load_library
from shared.runs.memo_keys import (
    concept_schema_digest,
    function_digest,
    invocation_concepts,
    invocation_key,
    pipe_digest,
)

_BUNDLE = """
domain = "memo"
main_pipe = "summarize"

[concept.Note]
description = "A note"

[concept.Note.structure]
title = "The title"

[pipe.summarize]
type = "PipeLLM"
description = "Summarize"
inputs = { text = "Text" }
output = "Note"
prompt = "Summarize @text"

[pipe.shout]
type = "PipeLLM"
description = "Shout"
inputs = { text = "Text" }
output = "Text"
prompt = "Shout @text"
"""


def _library(text: str = _BUNDLE) -> Library:
    return load_library([BundleSource(path="memo.mthds", text=text)])


def _key(library: Library, pipe_ref: str, content: Any, **output: Any) -> str:
    inputs = {"text": ("native.Text", content, False)}
    shape = {
        "concept": output.get("concept", "memo.Note"),
        "is_list": False,
        "count": None,
        "nb_output": None,
    }
    schemas = {
        concept: concept_schema_digest(library, concept) for concept in invocation_concepts(inputs, shape)
    }
    return invocation_key(pipe_digest(library.pipes[pipe_ref]), inputs, shape, schemas)


def test_the_same_invocation_in_another_library_load_has_the_same_key() -> None:
    assert _key(_library(), "memo.summarize", {"text": "hi"}) == _key(
        _library(), "memo.summarize", {"text": "hi"}
    )


def test_key_order_of_input_contents_does_not_matter() -> None:
    library = _library()
    assert _key(library, "memo.summarize", {"a": 1, "b": 2}) == _key(
        library, "memo.summarize", {"b": 2, "a": 1}
    )


def test_other_inputs_another_pipe_or_another_output_shape_change_the_key() -> None:
    library = _library()
    base = _key(library, "memo.summarize", {"text": "hi"})
    assert _key(library, "memo.summarize", {"text": "ho"}) != base
    assert _key(library, "memo.shout", {"text": "hi"}) != base
    assert _key(library, "memo.summarize", {"text": "hi"}, concept="native.Text") != base


def test_a_changed_prompt_changes_only_that_pipe() -> None:
    changed = _library(_BUNDLE.replace("Summarize @text", "Summarize briefly @text"))
    original = _library()
    assert pipe_digest(changed.pipes["memo.summarize"]) != pipe_digest(original.pipes["memo.summarize"])
    assert pipe_digest(changed.pipes["memo.shout"]) == pipe_digest(original.pipes["memo.shout"])


def test_a_changed_concept_structure_changes_the_key_of_the_invocations_that_write_it() -> None:
    changed = _library(_BUNDLE.replace('title = "The title"', 'title = "The title"\nbody = "The body"'))
    original = _library()
    assert _key(changed, "memo.summarize", {"text": "hi"}) != _key(original, "memo.summarize", {"text": "hi"})
    shout = {"concept": "native.Text"}
    assert _key(changed, "memo.shout", {"text": "hi"}, **shout) == _key(
        original, "memo.shout", {"text": "hi"}, **shout
    )


def _first(text: str) -> str:
    return text.upper()


def _second(text: str) -> str:
    return text.lower()


def test_a_function_counts_by_its_code_not_only_its_name() -> None:
    assert function_digest("f", _first) == function_digest("f", _first)
    assert function_digest("f", _first) != function_digest("f", _second)
    assert function_digest("f", None) != function_digest("g", None)
