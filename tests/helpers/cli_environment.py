"""The environment `methodflow validate` and `run` read, made neutral for a test: no deck or provider key
from the developer's shell, and the worker's settings read afresh by each test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.settings import get_worker_settings

SETTINGS_VARIABLES = (
    "MODEL_DECK",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
)


def neutral_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the deck and provider variables for this test and forget settings read before it."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    get_worker_settings.cache_clear()


def subprocess_environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """The environment of a `methodflow` process: this one's without the deck and provider variables,
    `DATA_DIR` and `variables` added."""
    inherited = {name: value for name, value in os.environ.items() if name not in SETTINGS_VARIABLES}
    return inherited | {"DATA_DIR": str(data_dir), **variables}
