"""Timing, ratios and the results table. Times are medians of repeats; only ratios are judged."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Result", "median_time", "table", "write_results"]


@dataclass(frozen=True)
class Result:
    """One benchmark: baseline and project in the same unit; `ratio` is project/baseline in the
    direction of `target` (``>= 0.95`` for throughput, ``<= 1.2`` for times)."""

    name: str
    unit: str
    baseline: float | None
    project: float
    target: str = ""
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.project / self.baseline

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        op, _, value = self.target.partition(" ")
        limit = float(value.rstrip("x"))
        measured = self.ratio if self.ratio is not None else self.project
        return measured >= limit if op == ">=" else measured <= limit


def median_time(run: Callable[[], object], repeats: int = 7, number: int = 1) -> float:
    """Median over `repeats` of the time of `number` calls of `run`, per call, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            run()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | unit | baseline | project | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base = f"{r.baseline:.4g}" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
        met = {True: "yes", False: "**no**", None: "-"}[r.met]
        target = r.target or "-"
        lines.append(
            f"| {r.name} | {r.unit} | {base} | {r.project:.4g} | {ratio} | {target} | {met} |"
        )
    return "\n".join(lines)


def write_results(results: list[Result], path: Path, note: str = "") -> None:
    """RESULTS.md: the table, with what it was measured on."""
    try:
        pytango = importlib.metadata.version("pytango")
    except importlib.metadata.PackageNotFoundError:
        pytango = "not installed"
    header = (
        "# Benchmark results\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PyTango {pytango}, {platform.machine()}.\n"
        "Baseline and project are measured in the same run; only the ratios mean anything "
        "on a shared machine.\n\n"
    )
    path.write_text(header + table(results) + "\n" + (f"\n{note}\n" if note else ""))
