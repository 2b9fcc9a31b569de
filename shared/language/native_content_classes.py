"""What the reference's native content classes state beyond the standard's pinned blueprints. Pure.

The reference writes a native's JSON Schema from its pydantic content class (`TextContent`,
`ImageContent`...). Those classes hold the pinned fields in the pinned words (`pinned_natives`), plus
what a blueprint cannot say, listed here: each class's docstring (the `description` of its schema where
it is nested under `$defs`), bounds on some values, Number's integer-or-number value, a list that
defaults to empty rather than to null, and Composite's open members. `contract_schema` renders a native
from both. Anything has no class at all: its schema is stated without one.
"""

from __future__ import annotations

from typing import Any

from shared.language.pinned_natives import PINNED_DESCRIPTIONS

CLASSLESS_NATIVES = frozenset({"Anything"})
# The natives without pinned fields that still have a class: an empty one.
FIELDLESS_NATIVES = ("Dynamic", "Composite")

_DATE_DOCSTRING = (
    "A calendar date, optionally with a time of day — as precise as its source states.\n\n"
    "The optional ``time`` carries the UTC offset on its ``tzinfo`` when the source states one\n"
    "(fidelity, not normalization). Invalid states are unrepresentable by construction: no time\n"
    "without a date, no offset without a time."
)
_TIME_DOCSTRING = (
    "A time of day, optionally with a UTC offset — as precise as its source states.\n\n"
    "The ``time`` carries the UTC offset on its ``tzinfo`` when the source states one\n"
    "(fidelity, not normalization). A time of day is not an instant: it has no date to\n"
    "attach to, so it never converts to a datetime on its own."
)
_COMPOSITE_DOCSTRING = (
    "Untyped named composition of contents — the structure class of `native.Composite`.\n\n"
    'Holds its named sub-contents as top-level fields (pydantic `extra="allow"`), so the\n'
    "serialized shape matches a bespoke structured concept: `{name: content, ...}` with no\n"
    "wrapper key. This is the combination vehicle for a `PipeParallel` whose author does not\n"
    "want to declare a bespoke concept: each branch's `result` name becomes a field."
)

# A class's docstring is its native's pinned description, but for these (None: the class has none).
_DOCSTRING_EXCEPTIONS: dict[str, str | None] = {
    "TextAndImages": None,
    "JSON": None,
    "Dynamic": None,
    "SearchResult": "Represents the result of a search query with an answer and list of sources.",
    "Date": _DATE_DOCSTRING,
    "Time": _TIME_DOCSTRING,
    "Composite": _COMPOSITE_DOCSTRING,
}


def native_class_docstring(code: str) -> str | None:
    """The description a native's class states of itself (its schema's `description` under `$defs`)."""
    if code in _DOCSTRING_EXCEPTIONS:
        return _DOCSTRING_EXCEPTIONS[code]
    return PINNED_DESCRIPTIONS[code]


_SHARE = {"maximum": 1, "minimum": 0, "type": "number"}  # a probability or a confidence
_SHARES = {"additionalProperties": _SHARE, "type": "object"}

# The value schemas the classes state where the pinned field's type says less, by (native, field).
NATIVE_VALUE_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("Number", "number"): {"anyOf": [{"type": "integer"}, {"type": "number"}]},
    ("YesNo", "probability"): _SHARE,
    ("Choice", "confidence"): _SHARE,
    ("Choice", "probabilities"): _SHARES,
    ("Rating", "level"): {"minimum": 0, "type": "integer"},
    ("Rating", "confidence"): _SHARE,
    ("Rating", "probabilities"): _SHARES,
    ("Rating", "position"): {"minimum": 0, "type": "number"},
    ("Image", "width"): {"exclusiveMinimum": 0, "type": "integer"},
    ("Image", "height"): {"exclusiveMinimum": 0, "type": "integer"},
}

# Fields whose class default is an empty list (a default factory: neither required nor shown).
NATIVE_EMPTY_LIST_FIELDS = frozenset({("SearchResult", "sources")})

# Members a native's class schema holds beside its fields.
NATIVE_CLASS_MEMBERS: dict[str, dict[str, Any]] = {"Composite": {"additionalProperties": True}}
