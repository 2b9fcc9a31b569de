"""Static analysis of MTHDS templates over the Jinja AST: roots, paths, guards, private reads, filters.

Pure: parses with `jinja2.Environment().parse`, never compiles or renders.

A read of root `x` is *guarded* (for `optional_input_unguarded`, mthds.md §4.4) when it sits in the true
branch of `{% if T %}` or the true side of `a if T else b`, where `T` is `x`, `x is defined`, `x is not none`,
or an `and` holding one of those (`{% if x and x.y %}` guards the right operand too); or when it is the probe
itself: a bare `x` or `x is defined|undefined|none` in an `if` test (also under `not`/`or`), `x is defined`
anywhere, `x|default(...)`. An `else`/`elif` branch is not guarded by the tests before it, nor a loop body by
its filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import jinja2
from jinja2 import nodes

from shared.language.sigils import preprocess_sigils
from shared.language.template_reads import collect_template_reads


class TemplateCategory(StrEnum):
    """The template categories of mthds.md §3.2: each sets the filters, autoescape and block trimming."""

    BASIC = "basic"
    EXPRESSION = "expression"
    HTML = "html"
    MARKDOWN = "markdown"
    MERMAID = "mermaid"
    LLM_PROMPT = "llm_prompt"
    IMG_GEN_PROMPT = "img_gen_prompt"


# Filters each category adds to Jinja's built-ins (mthds.md §3.2). PipeCondition expressions add none.
CUSTOM_FILTERS: dict[TemplateCategory, frozenset[str]] = {
    TemplateCategory.BASIC: frozenset({"format", "tag"}),
    TemplateCategory.EXPRESSION: frozenset(),
    TemplateCategory.HTML: frozenset({"format", "tag", "escape_script_tag", "markdown"}),
    TemplateCategory.MARKDOWN: frozenset({"format", "tag", "escape_script_tag"}),
    TemplateCategory.MERMAID: frozenset(),
    TemplateCategory.LLM_PROMPT: frozenset({"format", "tag", "with_images"}),
    TemplateCategory.IMG_GEN_PROMPT: frozenset({"format", "tag", "with_images"}),
}
ALL_CUSTOM_FILTERS = frozenset(name for names in CUSTOM_FILTERS.values() for name in names)

# `random` draws from Python's `random`: a template must render the same text on every replay.
NONDETERMINISTIC_FILTERS = frozenset({"random"})

_PARSER = jinja2.Environment()  # noqa: S701 -- parsing only: nothing is ever rendered with it
BUILTIN_FILTERS = frozenset(_PARSER.filters) - NONDETERMINISTIC_FILTERS
BUILTIN_TESTS = frozenset(_PARSER.tests)


class TemplateSyntaxFault(Exception):
    """A template that cannot be used: Jinja syntax error, filter not available in its category, etc."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


@dataclass(frozen=True)
class TemplateAnalysis:
    """What a template reads; the module docstring says what counts as guarded."""

    roots: frozenset[str]
    unguarded_roots: frozenset[str]
    private_reads: tuple[str, ...]
    paths: frozenset[tuple[str, ...]]


def available_filters(category: TemplateCategory) -> frozenset[str]:
    """Every filter a template of `category` may use."""
    return BUILTIN_FILTERS | CUSTOM_FILTERS[category]


def _parse(source: str) -> nodes.Template:
    try:
        return _PARSER.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxFault(exc.message or "invalid template syntax", exc.lineno) from exc
    except RecursionError as exc:
        msg = "the template nests too deeply to be parsed"
        raise TemplateSyntaxFault(msg) from exc


def _vet_filter(name: str, line: int, category: TemplateCategory) -> None:
    if name in available_filters(category):
        return
    if name in NONDETERMINISTIC_FILTERS:
        msg = f"filter '{name}' is refused: templates must render deterministically"
    elif name in ALL_CUSTOM_FILTERS:
        msg = f"filter '{name}' is not available in {category.value} templates"
    else:
        msg = f"unknown filter '{name}'"
    raise TemplateSyntaxFault(msg, line)


def _analyze_tree(tree: nodes.Template, category: TemplateCategory) -> TemplateAnalysis:
    try:
        reads = collect_template_reads(tree)
    except RecursionError as exc:
        msg = "the template nests too deeply to be analyzed"
        raise TemplateSyntaxFault(msg) from exc
    if reads.template_loads:
        msg = "a template cannot extend, include or import another"
        raise TemplateSyntaxFault(msg, reads.template_loads[0])
    for name, line in reads.filters:
        _vet_filter(name, line, category)
    for name, line in reads.tests:
        if name not in BUILTIN_TESTS:
            msg = f"unknown test '{name}'"
            raise TemplateSyntaxFault(msg, line)
    return TemplateAnalysis(
        roots=frozenset(reads.roots),
        unguarded_roots=frozenset(reads.unguarded_roots),
        private_reads=tuple(reads.private_reads),
        paths=frozenset(reads.paths),
    )


def analyze_template(source: str, category: TemplateCategory, *, sigils: bool = True) -> TemplateAnalysis:
    """Analyze a template (sigils rewritten first unless `sigils=False`); raises `TemplateSyntaxFault`."""
    jinja_source = preprocess_sigils(source) if sigils else source
    return _analyze_tree(_parse(jinja_source), category)


def parse_template(source: str, *, sigils: bool = True) -> nodes.Template:
    """The Jinja AST of a template (sigils rewritten first unless `sigils=False`); raises `TemplateSyntaxFault`."""
    return _parse(preprocess_sigils(source) if sigils else source)


def parse_expression(expression: str) -> nodes.Template:
    """The Jinja AST of a PipeCondition `expression`, as the one output it renders."""
    return _parse(f"{{{{ {expression} }}}}")


def analyze_expression(expression: str) -> TemplateAnalysis:
    """Analyze a PipeCondition `expression` (one Jinja expression, no sigils, no custom filters)."""
    tree = parse_expression(expression)
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        msg = "a condition expression must be a single Jinja expression"
        raise TemplateSyntaxFault(msg)
    return _analyze_tree(tree, TemplateCategory.EXPRESSION)
