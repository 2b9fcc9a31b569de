"""Bundle text → `BundleBlueprint`, or the issues that stop it (stages 1 and 2's shape checks). Pure.

Every piece (header, each concept, each pipe) is validated on its own so that all faults of a bundle
are reported together, each located at its file, pipe or concept and, where known, its line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from shared.language import names
from shared.language.blueprint import BundleBlueprint, ConceptBlueprint
from shared.language.issues import NAME_CONFLICT_CODE, SYNTAX_CODE, Category, ErrorType, Issue
from shared.language.natives import NATIVE_CODES
from shared.language.pipe_blueprints import PIPE_CLASSES, SIGNATURE_KEYS, PipeBlueprint, PipeSignature
from shared.language.report import BundleSource
from shared.language.step_shapes import step_shape_faults
from shared.language.toml_nesting import nesting_fault

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r'^[ \t]*\[[ \t]*(pipe|concept)[ \t]*\.[ \t]*"?([^\]."]+)"?[ \t]*[\].]', re.MULTILINE)
_Model = TypeVar("_Model", bound=BaseModel)
_TOO_DEEP = "The bundle nests arrays or tables too deeply to be read."
_TOP_LEVEL_KEYS = frozenset(
    {"domain", "description", "system_prompt", "main_pipe", "concept", "pipe", "source"}
)


@dataclass
class ParseOutcome:
    """What parsing one bundle gave: the blueprint when no issue stopped it, and the issues."""

    blueprint: BundleBlueprint | None
    issues: list[Issue] = field(default_factory=list[Issue])
    lines: dict[tuple[str, str], int] = field(default_factory=dict[tuple[str, str], int])


def parse_bundle(source: BundleSource) -> ParseOutcome:
    """Parse and shape-check one bundle; never raises on bad input."""
    too_deep = ParseOutcome(
        None, [Issue(category=Category.SYNTAX, code=SYNTAX_CODE, message=_TOO_DEEP, file=source.path)]
    )
    # Measured first: `tomllib` takes quadratic time on long dotted keys (`toml_nesting`).
    if nesting_fault(source.text) is not None:
        return too_deep
    try:
        data = tomllib.loads(source.text.replace("\r\n", "\n"))
    except tomllib.TOMLDecodeError as exc:
        return ParseOutcome(None, [_syntax_issue(source.path, str(exc))])
    except RecursionError:
        return too_deep
    return _BundleReader(source, data).read()


def _syntax_issue(path: str, message: str) -> Issue:
    position = _TOML_POSITION.search(message)
    line, column = (int(position.group(1)), int(position.group(2))) if position else (None, None)
    text = _TOML_POSITION.sub("", message).strip()
    return Issue(
        category=Category.SYNTAX,
        code=SYNTAX_CODE,
        message=f"TOML syntax error: {text}.",
        file=path,
        line=line,
        column=column,
    )


class _BundleReader:
    """Reads one decoded TOML document piece by piece, collecting every issue."""

    def __init__(self, source: BundleSource, data: dict[str, Any]) -> None:
        self.path = source.path
        self.data = data
        self.issues: list[Issue] = []
        self.lines: dict[tuple[str, str], int] = {}
        line, counted_to = 1, 0
        for match in _HEADER.finditer(source.text):
            # Count on from the previous header: counting from the start each time is quadratic.
            line += source.text.count("\n", counted_to, match.start())
            counted_to = match.start()
            self.lines.setdefault((match.group(1), match.group(2).strip()), line)

    def read(self) -> ParseOutcome:
        for key in self.data:
            if key not in _TOP_LEVEL_KEYS:
                self._issue(f"Unknown top-level key '{key}'.", field=key)
        domain = self._header_text("domain", required=True)
        if domain is not None and (fault := names.domain_fault(domain)) is not None:
            self._issue(f"Invalid domain '{domain}': {fault}.", field="domain")
        header = {key: self._header_text(key) for key in ("description", "system_prompt", "main_pipe")}
        concepts = self._concepts()
        pipes = self._pipes()
        main_pipe = header["main_pipe"]
        if main_pipe is not None:
            if not names.is_pipe_code(main_pipe):
                self._issue(
                    f"main_pipe '{main_pipe}' is not a valid pipe code (snake_case).",
                    field="main_pipe",
                    error_type=ErrorType.INVALID_PIPE_CODE_SYNTAX,
                )
            elif main_pipe not in self._raw_table("pipe"):
                self._issue(f"main_pipe '{main_pipe}' names no pipe of this bundle.", field="main_pipe")
        if self.issues or domain is None:
            return ParseOutcome(None, self.issues, self.lines)
        blueprint = BundleBlueprint.model_construct(
            domain=domain,
            description=header["description"],
            system_prompt=header["system_prompt"],
            main_pipe=main_pipe,
            concept=concepts,
            pipe=pipes,
            source=self.path,
        )
        return ParseOutcome(blueprint, self.issues, self.lines)

    # -- header ---------------------------------------------------------------------------------

    def _header_text(self, key: str, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self._issue(f"The bundle has no '{key}'.", field=key)
            return None
        if not isinstance(value, str):
            self._issue(f"'{key}' must be a string.", field=key)
            return None
        return value

    def _raw_table(self, key: str) -> dict[str, Any]:
        value = self.data.get(key, {})
        return cast(dict[str, Any], value) if isinstance(value, dict) else {}

    # -- concepts -------------------------------------------------------------------------------

    def _concepts(self) -> dict[str, ConceptBlueprint]:
        raw = self.data.get("concept", {})
        if not isinstance(raw, dict):
            self._issue("'concept' must be a table.", field="concept")
            return {}
        concepts: dict[str, ConceptBlueprint] = {}
        for code, value in cast(dict[str, Any], raw).items():
            if code in NATIVE_CODES:
                self._issue(
                    f"'{code}' is a native concept and cannot be declared again.",
                    concept=code,
                    field=f"concept.{code}",
                    error_type=ErrorType.NATIVE_CONCEPT_REDECLARATION,
                    code=NAME_CONFLICT_CODE,
                )
                continue
            if not names.is_concept_code(code):
                self._issue(
                    f"Concept code '{code}' must be PascalCase.", concept=code, field=f"concept.{code}"
                )
                continue
            concept = self._concept(code, value)
            if concept is not None:
                concepts[code] = concept
        return concepts

    def _concept(self, code: str, value: Any) -> ConceptBlueprint | None:
        if isinstance(value, str):
            return ConceptBlueprint(description=value)
        if not isinstance(value, dict):
            self._issue(
                f"Concept '{code}' must be a string or a table.", concept=code, field=f"concept.{code}"
            )
            return None
        table = dict(cast(dict[str, Any], value))
        structure = table.get("structure")
        if isinstance(structure, dict):
            table["structure"] = self._structure(code, cast(dict[str, Any], structure))
        return self._validated(ConceptBlueprint, table, f"concept.{code}", concept=code)

    def _structure(self, code: str, structure: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, spec in structure.items():
            if (fault := names.field_name_fault(name)) is not None:
                self._issue(
                    f"Field '{name}' of concept '{code}': {fault}.",
                    concept=code,
                    field=f"concept.{code}.{name}",
                )
                continue
            # Shorthand `name = "description"` is a required text field.
            fields[name] = (
                {"description": spec, "type": "text", "required": True} if isinstance(spec, str) else spec
            )
        return fields

    # -- pipes ----------------------------------------------------------------------------------

    def _pipes(self) -> dict[str, PipeBlueprint]:
        raw = self.data.get("pipe", {})
        if not isinstance(raw, dict):
            self._issue("'pipe' must be a table.", field="pipe")
            return {}
        pipes: dict[str, PipeBlueprint] = {}
        for code, value in cast(dict[str, Any], raw).items():
            if not names.is_pipe_code(code):
                self._issue(
                    f"Pipe code '{code}' is not valid: pipe codes are snake_case.",
                    pipe=code,
                    field=f"pipe.{code}",
                    error_type=ErrorType.INVALID_PIPE_CODE_SYNTAX,
                )
                continue
            if not isinstance(value, dict):
                self._issue(f"Pipe '{code}' must be a table.", pipe=code, field=f"pipe.{code}")
                continue
            pipe = self._pipe(code, cast(dict[str, Any], value))
            if pipe is not None:
                pipes[code] = pipe
        return pipes

    def _pipe(self, code: str, table: dict[str, Any]) -> PipeBlueprint | None:
        pipe_type = table.get("type")
        if pipe_type is None:
            if set(table) <= SIGNATURE_KEYS:
                return cast(PipeBlueprint, self._validated(PipeSignature, table, f"pipe.{code}", pipe=code))
            extra = sorted(set(table) - SIGNATURE_KEYS)
            self._issue(
                f"Pipe '{code}' has no 'type' but carries implementation keys ({', '.join(extra)}).",
                pipe=code,
                field=f"pipe.{code}.type",
                error_type=ErrorType.MISSING_PIPE_TYPE,
            )
            return None
        pipe_class = PIPE_CLASSES.get(pipe_type) if isinstance(pipe_type, str) else None
        if pipe_class is None:
            self._issue(
                f"Pipe '{code}' has unknown type {pipe_type!r}; known types: {', '.join(PIPE_CLASSES)}.",
                pipe=code,
                field=f"pipe.{code}.type",
                error_type=ErrorType.UNKNOWN_PIPE_TYPE,
            )
            return None
        if pipe_type in ("PipeSequence", "PipeParallel"):
            steps_key = "steps" if pipe_type == "PipeSequence" else "branches"
            faults = step_shape_faults(table.get(steps_key), in_parallel=pipe_type == "PipeParallel")
            for fault in faults:
                self._issue(
                    f"Pipe '{code}', {steps_key}[{fault.index}]: {fault.message}.",
                    pipe=code,
                    field=f"pipe.{code}.{steps_key}[{fault.index}]",
                    error_type=fault.error_type,
                )
            if faults:
                return None
        return cast(PipeBlueprint, self._validated(pipe_class, table, f"pipe.{code}", pipe=code))

    # -- shared ---------------------------------------------------------------------------------

    def _validated(
        self,
        model: type[_Model],
        table: dict[str, Any],
        where: str,
        *,
        pipe: str | None = None,
        concept: str | None = None,
    ) -> _Model | None:
        try:
            return model.model_validate(table)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                location = ".".join(
                    str(part) for part in error["loc"] if not str(part).startswith("function-")
                )
                location = re.sub(r"\.(str|int|float|bool|list|dict)\b", "", location)
                field_path = f"{where}.{location}" if location else where
                self._issue(f"{field_path}: {error['msg']}.", pipe=pipe, concept=concept, field=field_path)
            return None

    def _issue(
        self,
        message: str,
        *,
        field: str | None = None,
        pipe: str | None = None,
        concept: str | None = None,
        error_type: ErrorType | None = None,
        code: str | None = None,
    ) -> None:
        line = (
            self.lines.get(("pipe", pipe))
            if pipe
            else self.lines.get(("concept", concept))
            if concept
            else None
        )
        self.issues.append(
            Issue(
                category=Category.BLUEPRINT,
                message=message,
                error_type=error_type,
                code=code,
                file=self.path,
                pipe=pipe,
                concept=concept,
                field=field,
                line=line,
            )
        )
