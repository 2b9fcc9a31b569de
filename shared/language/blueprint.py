"""The parsed bundle: typed, immutable, closed blueprints of a bundle, its concepts and fields. Pure.

Mirrors the reference's blueprint models (`extra="forbid"`): an unknown key anywhere is refused.
Pipe blueprints live in `pipe_blueprints.py`; `parser.py` builds all of them from TOML text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.language.pipe_blueprints import PipeBlueprint


class Closed(BaseModel):
    """Base of every blueprint: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    LIST = "list"
    DICT = "dict"
    CONCEPT = "concept"


SCALAR_FIELD_TYPES = frozenset(
    {FieldType.TEXT, FieldType.INTEGER, FieldType.NUMBER, FieldType.BOOLEAN}
    | {FieldType.DATE, FieldType.DATETIME, FieldType.TIME}
)


class FieldBlueprint(Closed):
    """One structure field (mthds.md §1.4); a shorthand string is read as a required text field."""

    description: str
    type: FieldType | None = None
    required: bool = False
    default_value: Any = None
    choices: tuple[str, ...] | None = None
    item_type: str | None = None
    item_concept_ref: str | None = None
    concept_ref: str | None = None
    key_type: str | None = None
    value_type: str | None = None
    hints: dict[str, str] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> FieldBlueprint:
        if self.type is None and self.choices is None:
            msg = "a field needs a 'type' unless it lists 'choices'"
            raise ValueError(msg)
        if self.choices is not None and not self.choices:
            msg = "'choices' must list at least one value"
            raise ValueError(msg)
        if (self.type is FieldType.CONCEPT) != (self.concept_ref is not None):
            msg = "'concept_ref' is required with type 'concept' and only then"
            raise ValueError(msg)
        if self.item_concept_ref is not None and self.item_type != "concept":
            msg = "'item_concept_ref' goes with item_type = 'concept' only"
            raise ValueError(msg)
        if self.type is FieldType.LIST and self.item_type == "concept" and self.item_concept_ref is None:
            msg = "item_type = 'concept' needs 'item_concept_ref'"
            raise ValueError(msg)
        if self.type is FieldType.DICT:
            if self.key_type is None or self.value_type is None:
                msg = "a dict field needs both 'key_type' and 'value_type'"
                raise ValueError(msg)
            if self.key_type not in ("text", "str"):
                msg = "a dict field's 'key_type' must be 'text'"
                raise ValueError(msg)
        if self.default_value is not None:
            if self.type is FieldType.CONCEPT:
                msg = "a concept field cannot have a 'default_value'"
                raise ValueError(msg)
            if self.required:
                msg = "'default_value' cannot be combined with required = true"
                raise ValueError(msg)
            if self.choices is not None and self.default_value not in self.choices:
                msg = "'default_value' must be one of 'choices'"
                raise ValueError(msg)
        return self

    @property
    def effective_type(self) -> FieldType:
        """The field's type; an enum field (choices, no type) is text."""
        return self.type if self.type is not None else FieldType.TEXT


class ConceptBlueprint(Closed):
    """One concept declaration; the short form `Code = "description"` becomes `description` only."""

    description: str
    structure: dict[str, FieldBlueprint] | str | None = None
    refines: str | None = None
    hints: dict[str, str] | None = None

    @model_validator(mode="after")
    def _check_exclusive(self) -> ConceptBlueprint:
        if self.refines is not None and self.structure is not None:
            msg = "'refines' and 'structure' cannot be combined"
            raise ValueError(msg)
        return self


class BundleBlueprint(Closed):
    """A whole bundle: header keys, concepts and pipes, as declared (references unresolved)."""

    domain: str
    description: str | None = None
    system_prompt: str | None = None
    main_pipe: str | None = None
    concept: dict[str, ConceptBlueprint] = Field(default_factory=dict[str, ConceptBlueprint])
    pipe: dict[str, PipeBlueprint] = Field(default_factory=dict[str, PipeBlueprint])
    source: str | None = None

    def wire_dump(self) -> dict[str, Any]:
        """The blueprint in the reference's JSON shape (`bundle_blueprint` of `/validate`)."""
        dumped = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for key in ("source", "description", "system_prompt", "main_pipe"):
            dumped.setdefault(key, None)
        return dumped
