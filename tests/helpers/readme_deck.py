"""The model deck README.md shows in its "Models" section, read from README.md itself so tests that use it
stay equal to what users copy."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_deck() -> str:
    """The first ```toml block of README's "## Models" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Models\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert found is not None, "README's Models section has no ```toml block"
    return found.group(1)
