"""The inputs template of a pipe: its `input_form` descriptor projected into values to fill in. Pure.

Two shapes. **Light** (`explicit=False`) is what a run takes as is: a bare string for a text slot
(`"text_value"`), a bare URL for an image or a document, the content mapping for a structured concept;
a slot whose bare value the run could not rebuild (a native of several fields, or one with no fixed
shape) keeps its `{"concept", "content"}` envelope. **Explicit** wraps every slot in that envelope.

Placeholders are deterministic (`<name>_value`, the first choice of an enum, `2026-01-01`, a
`https://mock.invalid/url` file), and a fixed `Concept[N]` slot gets N elements, a variable one one.
These rules are the MTHDS inputs-template projection's, so a client projecting the same descriptor
with the `mthds` package gets the same template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from shared.tooling.template_toml import inline_layout, table_layout

Node = Mapping[str, Any]

MOCK_FILE_URL = "https://mock.invalid/url"
_NATIVE_PREFIX = "native."
# Natives a run cannot rebuild from a bare value: their light form keeps the envelope.
_ENVELOPED_NATIVES = frozenset(
    {"Anything", "Composite", "Dynamic", "Html", "JSON", "Page", "SearchResult", "TextAndImages"}
)
# The one member a native leaf's content holds, by the node's kind.
_CONTENT_KEYS = {
    "text": "text",
    "prose": "text",
    "enum": "text",
    "number": "number",
    "boolean": "yes_no",
    "date": "date",
    "image": "url",
    "document": "url",
}
_LEAF_KINDS = frozenset({"text", "prose", "date", "number", "boolean", "enum"})


def inputs_template(descriptor: Node, *, explicit: bool) -> dict[str, Any]:
    """The template of one pipe's `input_form` entry (`{"fields": [...]}`), one key per input, in order."""
    template: dict[str, Any] = {}
    for field in descriptor["fields"]:
        if explicit or _keeps_envelope(field):
            template[field["name"]] = {
                "concept": field.get("concept_ref"),
                "content": _slot_content(field, field["name"]),
            }
        elif field["kind"] == "list":
            template[field["name"]] = [
                _light_value(field["item"], f"{field['name']}_item") for _ in range(_repetitions(field))
            ]
        else:
            template[field["name"]] = _light_value(field, field["name"])
    return template


def inputs_template_json(descriptor: Node, *, explicit: bool) -> str:
    """The template as JSON text (two-space indent, no trailing newline)."""
    return json.dumps(inputs_template(descriptor, explicit=explicit), indent=2, ensure_ascii=False)


def inputs_template_toml(descriptor: Node, *, explicit: bool) -> str:
    """The template as TOML: explicit as tables; light as one inline line per input under a
    `# concept: Concept[]?` comment saying what it takes."""
    template = inputs_template(descriptor, explicit=explicit)
    if explicit:
        return table_layout(template)
    comments = {field["name"]: f"concept: {slot_signature(field)}" for field in descriptor["fields"]}
    return inline_layout(template, comments)


def slot_signature(field: Node) -> str:
    """A slot as it is written in a bundle: `Concept`, `Concept[]`, `Concept[N]`, `Concept?`, `Concept!`."""
    plurality = ""
    if field["kind"] == "list":
        plurality = f"[{field['item_count']}]" if "item_count" in field else "[]"
    marker = {"optional": "?", "force": "!"}.get(field.get("presence", "plain"), "")
    return f"{field.get('concept_ref') or ''}{plurality}{marker}"


def example_value(node: Node, name: str) -> Any:
    """The value a node takes inside a content mapping (what an output example is made of too)."""
    kind = node["kind"]
    if kind in _LEAF_KINDS:
        # A native leaf inside a structure holds the native's content (`{"text": ...}`), an authored
        # scalar field (no `concept_ref`) its bare value.
        key = _content_key(node) if _native_code(node) is not None else None
        return {key: _placeholder(node, key)} if key is not None else _placeholder(node, name)
    if kind in ("image", "document"):
        return {"url": MOCK_FILE_URL}
    if kind == "object":
        return {member["name"]: example_value(member, member["name"]) for member in node["fields"]}
    if kind == "list":
        return [example_value(node["item"], f"{name}_item") for _ in range(_repetitions(node))]
    return {}  # unknown: the only honest value


def _native_code(node: Node) -> str | None:
    """The native the node's concept is or refines (`Text`, `Image`...), else None."""
    for ref in (node.get("concept_ref"), *(node.get("refines") or ())):
        if isinstance(ref, str) and ref.startswith(_NATIVE_PREFIX):
            return ref.removeprefix(_NATIVE_PREFIX)
    return None


def _keeps_envelope(node: Node) -> bool:
    """Whether a slot's light form keeps `{concept, content}`: a list is decided by its element."""
    code = _native_code(node)
    if code is None:
        return False
    if code in _ENVELOPED_NATIVES or node["kind"] == "object":
        return True
    return node["kind"] == "list" and _keeps_envelope(node["item"])


def _content_key(node: Node) -> str | None:
    """The single member a slot-position leaf's content sits in (`text`, `time`, `url`...), else None."""
    if node["kind"] in ("text", "prose") and node.get("format") == "time":
        return "time"
    return _CONTENT_KEYS.get(node["kind"])


def _placeholder(node: Node, name: str) -> Any:
    """The fill-in value of a leaf, named after the field (or content member) it sits in."""
    kind = node["kind"]
    if kind in ("text", "prose"):
        return "12:00:00" if node.get("format") == "time" else f"{name}_value"
    if kind == "date":
        return "2026-01-01T12:00:00" if node.get("datetime") else "2026-01-01"
    if kind == "number":
        if _native_code(node) == "Number":
            return 1
        return 0 if node.get("integer") else 0.0
    if kind == "boolean":
        return False
    if kind == "enum":
        choices = cast("list[str]", node.get("choices") or [])
        return choices[0] if choices else f"{name}_value"
    return MOCK_FILE_URL  # image, document


def _repetitions(node: Node) -> int:
    count = node.get("item_count")
    return count if isinstance(count, int) else 1


def _slot_content(node: Node, name: str) -> Any:
    """The `content` of one slot's envelope."""
    key = _content_key(node)
    if key is not None:
        return {key: _placeholder(node, key)}
    if node["kind"] == "list":
        return [_slot_content(node["item"], f"{name}_item") for _ in range(_repetitions(node))]
    return example_value(node, name)


def _light_value(node: Node, name: str) -> Any:
    """A slot's (or a slot element's) light value: a leaf unwraps to its bare placeholder."""
    key = _content_key(node)
    if key is not None:
        return _placeholder(node, key)
    return example_value(node, name)
