"""Linting of one `.mthds` text: TOML syntax, duplicate keys, and the MTHDS validation, as ranged diagnostics.

Pure. Diagnostics in the reference's shape (pipelex-tools 0.7.0, docs/design/tooling-routes.md §5):
- `syntax`: the text is not TOML (the first error `tomllib` meets; the reference may list several);
- `semantic`: a key defined twice (`conflicting keys: 'a' and 'a'`, on the second key), and, beyond the
  reference (which never resolves concepts or pipes), every issue of our validator past the bundle's
  shape: unresolved concepts and pipes, wiring, templates, models... (`shared.language.validator`);
- `schema`: what the bundle parser refuses in the bundle's shape: unknown keys, wrong value types,
  unknown pipe types, malformed steps (`shared.language.parser`).
Validator warnings have severity `warning`; everything else is an `error`. A diagnostic's `location`
is the dotted TOML path of the faulty key (`pipe.a.output`, `pipe.a.steps.0.from`) and its range is
that key's, or the nearest enclosing one the text writes (a `[pipe.a]` header for the pipe itself).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.language.issues import Issue
from shared.language.model_deck import ModelDeck
from shared.language.parser import parse_bundle
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from shared.tooling.mthds_diagnostics import (
    Diagnostic,
    DiagnosticKind,
    Severity,
    TextPositions,
    read_toml,
    too_deep,
)
from shared.tooling.mthds_text_positions import KeyPath, dotted_location, key_spans, span_of
from shared.tooling.toml_layout import Span
from shared.tooling.toml_layout_reader import read_layout

DEFAULT_SOURCE = "bundle.mthds"


def lint_mthds(
    text: str, deck: ModelDeck, *, source: str | None = None, companions: Sequence[BundleSource] = ()
) -> list[Diagnostic]:
    """Every diagnostic of `text`; `companions` are bundles validated with it (their own faults unreported)."""
    data, diagnostics = read_toml(text)
    if data is None:
        return diagnostics
    try:
        index = key_spans(read_layout(text))
    except RecursionError:
        return [too_deep()]
    located = _Locator(TextPositions(text), index)
    bundle = BundleSource(path=source or DEFAULT_SOURCE, text=text)
    parsed = parse_bundle(bundle)
    if parsed.issues:
        return [located(issue, "schema", "error") for issue in parsed.issues]
    report = validate_sources([bundle, *companions], deck)
    own = [issue for issue in report.issues if issue.file in (None, bundle.path)]
    warnings = [issue for issue in report.warnings if issue.file in (None, bundle.path)]
    return [located(issue, "semantic", "error") for issue in own] + [
        located(issue, "semantic", "warning") for issue in warnings
    ]


class _Locator:
    """Issues to diagnostics, ranged on the keys of one text."""

    def __init__(self, positions: TextPositions, index: dict[KeyPath, Span]) -> None:
        self.positions = positions
        self.index = index

    def __call__(self, issue: Issue, kind: DiagnosticKind, severity: Severity) -> Diagnostic:
        location = issue_location(issue)
        span = span_of(self.index, location) if location is not None else None
        return Diagnostic(
            kind=kind,
            severity=severity,
            message=issue.message,
            location=location,
            range=self.positions.range(span) if span is not None else None,
        )


def issue_location(issue: Issue) -> str | None:
    """The dotted TOML path an issue names: its field, under its pipe or concept when given relative."""
    owner = (
        f"pipe.{issue.pipe}"
        if issue.pipe is not None
        else f"concept.{issue.concept}"
        if issue.concept is not None and issue.field is None
        else None
    )
    if issue.field is None:
        return owner
    field = dotted_location(issue.field)
    if owner is not None and not (field == owner or field.startswith(f"{owner}.")):
        return f"{owner}.{field}"
    return field
