"""Entry point of validation: bundle texts in, a `ValidationReport` out, through the ordered stages. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from shared.language.model_deck import ModelDeck
from shared.language.report import BundleSource, ValidationReport


def validate_sources(
    sources: Sequence[BundleSource], deck: ModelDeck, *, allow_signatures: bool = False
) -> ValidationReport:
    """Validate `sources` together as one library (stages of mthds.md §5.1); never raises on bad input."""
    raise NotImplementedError
