"""Interpreter throughput in-process, on one core; prints figures, asserts nothing.

- a 3-step PipeSequence of PipeCompose, run 1,000 times (runs/s; target ≥ 300);
- a PipeBatch of 10,000 items over a PipeCompose (items/s; target ≥ 5,000).
Each run converts its caller inputs, walks the pipes and validates every output, as a real run does.
Run from the repo root: `.venv/bin/python bench/interpret.py [runs] [items]`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.validate import pin_to_one_core
from shared.language.library import Library
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from shared.runtime.call_site import RunOptions
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.run_pipeline import RunRequest, run_pipeline
from shared.runtime.stuff import Stuff

SEQUENCE = """
domain = "bench"
description = "Three composes in a row"
main_pipe = "greet"

[concept.Guest]
description = "A guest"

[concept.Guest.structure]
name = { type = "text", description = "The guest's name", required = true }
town = { type = "text", description = "Where the guest comes from", required = true }

[pipe.greet]
type = "PipeSequence"
description = "Greets a guest in three steps"
inputs = { guest = "Guest" }
output = "Text"
steps = [
  { pipe = "say_hello", result = "hello" },
  { pipe = "add_town", result = "with_town" },
  { pipe = "wrap", result = "wrapped" },
]

[pipe.say_hello]
type = "PipeCompose"
description = "Says hello"
inputs = { guest = "Guest" }
output = "Text"
template = "Hello, {{ guest.name }}!"

[pipe.add_town]
type = "PipeCompose"
description = "Adds the town"
inputs = { hello = "Text", guest = "Guest" }
output = "Text"
template = "$hello Welcome from {{ guest.town }}."

[pipe.wrap]
type = "PipeCompose"
description = "Wraps the greeting"
inputs = { with_town = "Text" }
output = "Text"
template = ">> $with_town <<"
"""

BATCH = """
domain = "bench"
description = "One compose per item"
main_pipe = "label_all"

[pipe.label_all]
type = "PipeBatch"
description = "Labels every crate"
inputs = { crates = "Text[]" }
output = "Text[]"
branch_pipe_code = "label_one"
input_list_name = "crates"
input_item_name = "crate"

[pipe.label_one]
type = "PipeCompose"
description = "Labels one crate"
inputs = { crate = "Text" }
output = "Text"
template = "Crate: $crate"
"""


def library_of(text: str) -> Library:
    report = validate_sources([BundleSource(path="bench.mthds", text=text)], builtin_deck())
    if report.library is None:
        msg = f"the benchmark bundle does not validate: {report.issues}"
        raise SystemExit(msg)
    return report.library


async def bench_sequence(runs: int) -> None:
    library = library_of(SEQUENCE)
    executor = DryRunExecutor(library)  # never called: PipeCompose runs inside the walk
    request = RunRequest("bench.greet", {"guest": {"name": "Ada", "town": "Brest"}})
    durations: list[float] = []
    await run_pipeline(library, request, executor)  # warm-up: compiles the templates once
    started = time.perf_counter()
    for index in range(runs):
        begin = time.perf_counter()
        await run_pipeline(library, request, executor, RunOptions(seed=f"run-{index}"))
        durations.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(durations, n=100, method="inclusive")
    print(
        f"3-step sequence  {runs:>6} runs in {elapsed:7.3f} s  {runs / elapsed:9.1f} runs/s   "
        f"p50 {quantiles[49] * 1000:6.3f} ms  p99 {quantiles[98] * 1000:6.3f} ms  (target >= 300 runs/s)"
    )


async def bench_batch(items: int) -> None:
    library = library_of(BATCH)
    executor = DryRunExecutor(library)
    crates = [f"crate {index}" for index in range(items)]
    await run_pipeline(library, RunRequest("bench.label_all", {"crates": crates[:10]}), executor)
    started = time.perf_counter()
    outcome = await run_pipeline(library, RunRequest("bench.label_all", {"crates": crates}), executor)
    elapsed = time.perf_counter() - started
    produced = len(outcome.main.items()) if isinstance(outcome.main, Stuff) else 0
    print(
        f"batch of items   {items:>6} items in {elapsed:6.3f} s  {items / elapsed:9.1f} items/s  "
        f"({produced} outputs; target >= 5,000 items/s)"
    )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    items = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    print(f"interpreter in-process, {pin_to_one_core()}")
    asyncio.run(bench_sequence(runs))
    asyncio.run(bench_batch(items))


if __name__ == "__main__":
    main()
