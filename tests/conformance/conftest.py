"""Conformance fixtures: the pinned reference corpus (skipped when offline) and the end-of-run summary."""

from __future__ import annotations

import pytest

from tests.conformance.corpus import (
    CorpusEntry,
    CorpusIntegrityError,
    CorpusUnavailableError,
    fetch_wheel,
    load_entries,
)

SUMMARY_KEY = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def corpus_entries() -> list[CorpusEntry]:
    """Every entry of the pipelex 0.92.2 corpus, read from the cached (or freshly downloaded) wheel."""
    try:
        return load_entries(fetch_wheel())
    except CorpusUnavailableError as exc:
        pytest.skip(str(exc))
    except CorpusIntegrityError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def conformance_summary(request: pytest.FixtureRequest) -> list[str]:
    """Lines a test appends here are printed at the end of the run, even when every test passes."""
    return request.config.stash.setdefault(SUMMARY_KEY, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(SUMMARY_KEY, list[str]())
    if lines:
        terminalreporter.section("conformance")
        for line in lines:
            terminalreporter.write_line(line)
