"""The benchmark report's page: bench/report_page.py renders what bench/report_figures.py writes, and the
committed docs/benchmarks.md is exactly the page of the committed bench/results/latest.json."""

from __future__ import annotations

import json
from typing import Any

from bench.report_figures import Repetition, Side, Workload, report_json
from bench.report_page import LATEST, PAGE, PAGE_CHART, page, table_lines, target_lines

MACHINE: dict[str, Any] = {
    "cpu_model": "Test CPU",
    "cores": 2,
    "platform": "Linux x86_64",
    "python": "3.11.7",
    "date": "2026-12-03 13:00 UTC",
    "git_commit": "abc123",
    "uncommitted_changes": False,
    "load_average_start": [0.5, 0.4, 0.3],
    "load_average_end": [1.0, 0.9, 0.8],
}
METHOD: dict[str, Any] = {
    "repetitions": 2,
    "sizes": {"tooling_requests": 4},
    "notes": {"Client": "closed loop"},
}


def sample() -> dict[str, Any]:
    """Two repetitions a side: the medians of 10 and 30 requests/s, of 10/20/30 ms and 30/40/50 ms."""
    ours = Side("ours", ("api", "worker"))
    ours.repetitions = [
        Repetition(4, 0.4, [0.01, 0.01, 0.01, 0.01], 0, {"api": 0.04, "worker": 0.04}, {"api": 100.0}),
        Repetition(6, 0.2, [0.03, 0.03, 0.03, 0.03], 0, {"api": 0.06, "worker": 0.0}, {"api": 120.4}),
    ]
    reference = Side("reference", ("reference",))
    reference.repetitions = [
        Repetition(2, 1.0, [0.5, 0.5], 1, {"reference": 0.4}, {"reference": 200.0}),
        Repetition(2, 1.0, [0.5, 0.5], 0, {"reference": 0.6}, {"reference": 210.0}),
    ]
    validate = Workload(
        "validate", "/v1/validate", 8, "request", [ours, reference], "reference", "ratio_at_least", 20.0
    )
    batch_ours = Side("ours", ("worker",), [Repetition(100, 2.0, [], 0, {"worker": 1.0}, {"worker": 190.0})])
    batch = Workload("batch", "batch", 64, "item", [batch_ours], note="one run")
    return report_json(
        mode="full", machine=MACHINE, method=METHOD, workloads=[validate, batch], wall_seconds=61.04
    )


def test_the_page_shows_each_sides_medians_and_the_ratio() -> None:
    report = json.loads(json.dumps(sample()))  # as the page reads it: through the JSON file

    assert table_lines(report)[2:] == [
        "| **validate** | ours | 20.0 req/s | 20.0 | 20.0 | 20.0 | 0.0150 | api 120 | 10.00x |",
        "|  | reference | 2.0 req/s (1 failed) | 500.0 | 500.0 | 500.0 | 0.2500 | reference 210 |  |",
        "| **batch** | ours | 50.0 items/s | n/a | n/a | n/a | 0.0100 | worker 190 |  |",
    ]
    assert target_lines(report) == [
        "- `validate`: at least 20x the reference's throughput: 10.00x, **missed**.",
    ]


def test_the_json_keeps_every_repetition_and_the_latencies() -> None:
    side = sample()["workloads"][0]["sides"]["ours"]

    assert [rep["per_second"] for rep in side["each_repetition"]] == [10.0, 30.0]
    assert side["latencies_ms"] == [10.0] * 4 + [30.0] * 4
    assert side["counted_processes"] == ["api", "worker"]


def test_the_page_holds_the_method_and_the_chart() -> None:
    text = page(sample(), PAGE_CHART)

    assert "load average (1, 5, 15 min) 0.50, 0.40, 0.30 at the start" in text
    assert "- **Client**: closed loop" in text
    assert f"![Latency per workload, ours beside the other side]({PAGE_CHART})" in text
    assert "quick mode" not in text


def test_the_committed_results_have_the_writers_schema_and_the_page_is_theirs() -> None:
    committed: dict[str, Any] = json.loads(LATEST.read_text())
    written = sample()
    committed_validate = next(w for w in committed["workloads"] if w["key"] == "validate")
    written_validate = written["workloads"][0]

    assert committed["schema"] == written["schema"]
    assert set(committed) == set(written)
    assert set(committed["machine"]) == set(MACHINE)
    assert set(committed["method"]) == set(METHOD)
    assert set(committed_validate) == set(written_validate)
    assert set(committed_validate["sides"]) == set(written_validate["sides"])
    committed_ours, written_ours = committed_validate["sides"]["ours"], written_validate["sides"]["ours"]
    assert set(committed_ours) == set(written_ours)
    assert set(committed_ours["each_repetition"][0]) == set(written_ours["each_repetition"][0])
    assert PAGE.read_text() == page(committed, PAGE_CHART)
