"""The model deck the docs show in docs/models.md ("The deck in depth", the README's former "Models"
section), read from the page itself so tests that use it stay equal to what users copy."""

from __future__ import annotations

import re
from pathlib import Path

MODELS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def readme_deck() -> str:
    """The first ```toml block of docs/models.md's "## The deck in depth" section."""
    text = MODELS_PAGE.read_text(encoding="utf-8")
    section = text.split("\n## The deck in depth\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert found is not None, "docs/models.md's deck section has no ```toml block"
    return found.group(1)
