"""Validation issues: the error types of pipelex 0.92.2, their wire codes, and one issue record. Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Category(StrEnum):
    """Which validation stage produced an issue (the reference's `category`)."""

    SYNTAX = "syntax"
    BLUEPRINT = "blueprint_validation"
    FACTORY = "pipe_factory"
    PIPE = "pipe_validation"
    DRY_RUN = "dry_run"


class ErrorType(StrEnum):
    """The `error_type` values of pipelex 0.92.2 (what the corpus's `expected_error` names)."""

    MISSING_INPUT_VARIABLE = "missing_input_variable"
    EXTRANEOUS_INPUT_VARIABLE = "extraneous_input_variable"
    INPUT_STUFF_SPEC_MISMATCH = "input_stuff_spec_mismatch"
    INADEQUATE_OUTPUT_CONCEPT = "inadequate_output_concept"
    INADEQUATE_OUTPUT_MULTIPLICITY = "inadequate_output_multiplicity"
    LLM_OUTPUT_CANNOT_BE_IMAGE = "llm_output_cannot_be_image"
    LLM_SETTING_REFUSED_BY_MODEL = "llm_setting_refused_by_model"
    INVALID_PIPE_CODE_SYNTAX = "invalid_pipe_code_syntax"
    INVALID_INPUT_NAME = "invalid_input_name"
    UNKNOWN_PIPE_TYPE = "unknown_pipe_type"
    MISSING_PIPE_TYPE = "missing_pipe_type"
    BATCH_ITEM_NAME_COLLISION = "batch_item_name_collision"
    BINDING_STEP_INVALID = "binding_step_invalid"
    BINDING_PATH_UNRESOLVED = "binding_path_unresolved"
    OPTIONAL_MARKER_INVALID = "optional_marker_invalid"
    OPTIONAL_NOT_HANDLED = "optional_not_handled"
    OPTIONAL_OUTPUT_REQUIRED = "optional_output_required"
    OPTIONAL_INPUT_UNGUARDED = "optional_input_unguarded"
    OPTIONAL_BRANCH_REQUIRED_FIELD = "optional_branch_required_field"
    TEMPLATE_PRIVATE_NAME = "template_private_name"
    OPTIONAL_FORCE_REDUNDANT = "optional_force_redundant"
    INPUT_PRESENCE_VACUOUS = "input_presence_vacuous"
    NATIVE_CONCEPT_REDECLARATION = "native_concept_redeclaration"
    UNRESOLVED_CONCEPT = "unresolved_concept"
    UNRESOLVED_PIPE_DEPENDENCY = "unresolved_pipe_dependency"
    UNRESOLVED_PACKAGE_DEPENDENCY = "unresolved_package_dependency"
    UNEXPORTED_PIPE_DEPENDENCY = "unexported_pipe_dependency"
    UNKNOWN_MODEL = "unknown_model"
    PIPE_FUNC_FUNCTION_REFUSED = "pipe_func_function_refused"
    UNKNOWN_VALIDATION_ERROR = "unknown_validation_error"
    UNKNOWN_CONCEPT = "unknown_concept"
    UNKNOWN_FACTORY_ERROR = "unknown_factory_error"
    DRY_RUN_ERROR = "DryRunError"


# The problem `code` each error type carries on the wire (mthds.md §5.2).
PROBLEM_CODE_OF: dict[ErrorType, str] = {
    ErrorType.MISSING_INPUT_VARIABLE: "method.input_undeclared",
    ErrorType.EXTRANEOUS_INPUT_VARIABLE: "method.input_unused",
    ErrorType.INPUT_STUFF_SPEC_MISMATCH: "method.input_concept_mismatch",
    ErrorType.INADEQUATE_OUTPUT_CONCEPT: "method.output_concept_mismatch",
    ErrorType.INADEQUATE_OUTPUT_MULTIPLICITY: "method.output_multiplicity_mismatch",
    ErrorType.LLM_OUTPUT_CANNOT_BE_IMAGE: "method.output_concept_mismatch",
    ErrorType.LLM_SETTING_REFUSED_BY_MODEL: "model.capability_unsupported",
    ErrorType.INVALID_PIPE_CODE_SYNTAX: "method.identifier_invalid",
    ErrorType.INVALID_INPUT_NAME: "method.identifier_invalid",
    ErrorType.UNKNOWN_PIPE_TYPE: "method.pipe_type_invalid",
    ErrorType.MISSING_PIPE_TYPE: "method.pipe_type_invalid",
    ErrorType.BATCH_ITEM_NAME_COLLISION: "method.name_conflict",
    ErrorType.BINDING_STEP_INVALID: "method.binding_step_invalid",
    ErrorType.BINDING_PATH_UNRESOLVED: "method.field_path_unresolved",
    ErrorType.OPTIONAL_MARKER_INVALID: "method.optional_marker_invalid",
    ErrorType.OPTIONAL_NOT_HANDLED: "method.optional_unhandled",
    ErrorType.OPTIONAL_OUTPUT_REQUIRED: "method.optional_unhandled",
    ErrorType.OPTIONAL_INPUT_UNGUARDED: "method.optional_unhandled",
    ErrorType.OPTIONAL_BRANCH_REQUIRED_FIELD: "method.optional_unhandled",
    ErrorType.TEMPLATE_PRIVATE_NAME: "method.template_private_name",
    ErrorType.OPTIONAL_FORCE_REDUNDANT: "method.optional_force_redundant",
    ErrorType.INPUT_PRESENCE_VACUOUS: "method.input_presence_vacuous",
    ErrorType.NATIVE_CONCEPT_REDECLARATION: "method.name_conflict",
    ErrorType.UNRESOLVED_CONCEPT: "method.concept_unresolved",
    ErrorType.UNRESOLVED_PIPE_DEPENDENCY: "method.pipe_unresolved",
    ErrorType.UNRESOLVED_PACKAGE_DEPENDENCY: "method.dependency_missing",
    ErrorType.UNEXPORTED_PIPE_DEPENDENCY: "method.pipe_not_exported",
    ErrorType.UNKNOWN_MODEL: "model.unknown",
    ErrorType.PIPE_FUNC_FUNCTION_REFUSED: "method.function_invalid",
    ErrorType.UNKNOWN_VALIDATION_ERROR: "method.schema_violation",
    ErrorType.UNKNOWN_CONCEPT: "method.concept_unresolved",
    ErrorType.UNKNOWN_FACTORY_ERROR: "method.schema_violation",
    ErrorType.DRY_RUN_ERROR: "pipe.dry_run_failed",
}

# Codes for issues that carry no error type (mthds.md §5.2, last paragraph).
SYNTAX_CODE = "method.syntax"
NAME_CONFLICT_CODE = "method.name_conflict"
SCHEMA_VIOLATION_CODE = "method.schema_violation"


class Issue(BaseModel):
    """One validation finding, located as precisely as the stage that found it can."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: Category
    message: str
    error_type: ErrorType | None = None
    # The problem code when it is not derived from `error_type` (syntax, name conflicts, run-time codes).
    code: str | None = None
    file: str | None = None
    pipe: str | None = None
    concept: str | None = None
    domain: str | None = None
    field: str | None = None
    line: int | None = None
    column: int | None = None
    variable_names: tuple[str, ...] = ()
    params: dict[str, Any] = Field(default_factory=dict[str, Any])
    suggestions: tuple[str, ...] = ()

    @property
    def problem_code(self) -> str:
        """The dotted code this issue carries on the wire."""
        if self.code is not None:
            return self.code
        if self.error_type is not None:
            return PROBLEM_CODE_OF[self.error_type]
        return SCHEMA_VIOLATION_CODE

    def to_problem_item(self) -> dict[str, Any]:
        """The `/validate` error item: code, detail, params, location, error_type; absent members omitted."""
        item: dict[str, Any] = {"code": self.problem_code, "detail": self.message}
        params = dict(self.params)
        if self.pipe is not None:
            params.setdefault("pipe", self.pipe)
        if self.concept is not None:
            params.setdefault("concept", self.concept)
        if self.variable_names:
            params.setdefault("variables", list(self.variable_names))
        if self.suggestions:
            params.setdefault("suggestions", list(self.suggestions))
        if params:
            item["params"] = params
        location: dict[str, Any] = {}
        for key, value in (
            ("file", self.file),
            ("pipe", self.pipe),
            ("field", self.field),
            ("line", self.line),
            ("column", self.column),
        ):
            if value is not None:
                location[key] = value
        if location:
            item["location"] = location
        if self.suggestions:
            item["suggestions"] = list(self.suggestions)
        if self.error_type is not None:
            item["error_type"] = self.error_type.value
        return item
