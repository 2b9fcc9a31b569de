"""Validating contents against their concept: the JSON a stuff holds always fits its concept. Pure.

Contents are checked with the pydantic models of `content_schema` and dumped back to JSON-compatible
values, so numbers declared `number` become floats (an integer renders `9.0`, as in pipelex 0.92.2) and
dates become ISO strings. Native Number keeps an integer integral, as the reference's `int | float` does.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, ValidationError

from shared.language.content_schema import content_model
from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN

NUMBER = f"{NATIVE_DOMAIN}.Number"
_OPEN = frozenset(f"{NATIVE_DOMAIN}.{code}" for code in ("Anything", "Dynamic", "Composite"))


class ContentRefused(ValueError):
    """A content that does not fit its concept; `fields` names the refused fields, never their values."""

    def __init__(self, concept: str, reasons: list[str], fields: list[str]) -> None:
        super().__init__(f"the content does not fit '{concept}': {'; '.join(reasons)}")
        self.concept = concept
        self.reasons = reasons
        self.fields = fields


class ContentValidator:
    """Validates contents of one library's concepts; caches one model per concept."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._models: dict[str, type[BaseModel]] = library.content_models

    def validate(self, concept: str, content: Any) -> Any:
        """`content` checked and normalized for `concept`; raises `ContentRefused`."""
        if concept in _OPEN:
            return content
        if concept == NUMBER or NUMBER in self.library.lineage(concept):
            return self._number(concept, content)
        if not isinstance(content, dict):
            raise ContentRefused(concept, [f"expected an object, got {_json_type(content)}"], [])
        model = self._models.get(concept)
        if model is None:
            model = content_model(self.library, concept)
            self._models[concept] = model
        try:
            return model.model_validate(content).model_dump(mode="json")
        except ValidationError as exc:
            fields = [".".join(str(part) for part in error["loc"]) for error in exc.errors()]
            reasons = [
                f"{'.'.join(str(part) for part in error['loc']) or '(content)'}: {error['msg']}"
                for error in exc.errors()
            ]
            raise ContentRefused(concept, reasons, fields) from exc

    def validate_list(self, concept: str, items: list[Any]) -> dict[str, Any]:
        return {"items": [self.validate(concept, item) for item in items]}

    def _number(self, concept: str, content: Any) -> Any:
        fields = cast("dict[str, Any]", content) if isinstance(content, dict) else None
        number = fields.get("number") if fields is not None else None
        if fields is None or set(fields) != {"number"} or isinstance(number, bool):
            raise ContentRefused(concept, ["expected {'number': <int or float>}"], ["number"])
        if not isinstance(number, int | float):
            raise ContentRefused(
                concept, [f"number: expected a number, got {_json_type(number)}"], ["number"]
            )
        return {"number": number}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
