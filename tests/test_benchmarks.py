"""A smoke run of the benchmarks, so they never rot: it checks they run and produce numbers,
never how fast anything is."""

from __future__ import annotations

import math

from benchmarks import transport
from benchmarks.harness import Result, table


def test_transport_benchmark_runs_and_reports_numbers() -> None:
    results = transport.run(quick=True)
    assert [r.name for r in results] == [
        "recvfixed 2.86 MB, loopback",
        "select + concatenation (2009), loopback",
    ]
    for result in results:
        assert result.baseline is not None and result.baseline > 0
        assert result.project > 0 and math.isfinite(result.project)
        assert result.ratio is not None and result.ratio > 0
    assert "recvfixed 2.86 MB" in table(results)


def test_targets_are_judged_in_their_direction() -> None:
    assert Result("t", "MB/s", 100.0, 96.0, ">= 0.95x").met is True
    assert Result("t", "MB/s", 100.0, 90.0, ">= 0.95x").met is False
    assert Result("t", "s", 1.0, 1.1, "<= 1.2x").met is True
    assert Result("t", "s", 1.0, 1.3, "<= 1.2x").met is False
    assert Result("t", "frames/s", None, 150.0, ">= 100").met is True
    assert Result("t", "MB/s", 1.0, 2.0).met is None
