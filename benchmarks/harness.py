"""Timing, ratios and the results table. Times are medians of repeats; only ratios are judged.

A figure taken in rounds, baseline and project in turn, also keeps the spread of the per-round
ratios (their middle half): on a shared machine one run's ratio can be a few percent off the
next one's, and a reader should see how much before judging a result near its target."""

from __future__ import annotations

import importlib.metadata
import operator
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Result",
    "interleaved_samples",
    "per_call",
    "table",
    "write_results",
]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Result:
    """One benchmark: baseline and project in the same unit; `ratio` is project/baseline in the
    direction of `target`: ``">= 0.95x"`` for a throughput, ``"<= 1.2x"`` for a time (a ratio);
    ``">= 100"`` judges the project's value alone, ``"growth < 10"`` project minus baseline.

    Figures taken in rounds (`paired`) keep the ratio of each round: `ratio` is then their
    median (both sides of a round share the machine's mood of the moment, so a slow spell
    cancels), and `spread` their first and third quartiles."""

    name: str
    unit: str
    baseline: float | None
    project: float
    target: str = ""
    higher_is_better: bool = True
    round_ratios: tuple[float, ...] = ()

    @classmethod
    def paired(
        cls,
        name: str,
        unit: str,
        baseline: Sequence[float],
        project: Sequence[float],
        target: str = "",
        *,
        higher_is_better: bool = True,
    ) -> Result:
        """From figures taken in rounds, baseline and project in each (in `unit`): their medians,
        and the ratio of each round."""
        ratios = tuple(p / b for b, p in zip(baseline, project, strict=True))
        return cls(
            name,
            unit,
            statistics.median(baseline),
            statistics.median(project),
            target,
            higher_is_better,
            ratios,
        )

    @property
    def ratio(self) -> float | None:
        if self.round_ratios:
            return statistics.median(self.round_ratios)
        if not self.baseline:
            return None
        return self.project / self.baseline

    @property
    def spread(self) -> tuple[float, float] | None:
        """The first and third quartiles of the rounds' ratios (None for fewer than 2)."""
        if len(self.round_ratios) < 2:
            return None
        low, _, high = statistics.quantiles(self.round_ratios, n=4, method="inclusive")
        return low, high

    @property
    def growth(self) -> float | None:
        """Project minus baseline (memory: what the run added)."""
        return None if self.baseline is None else self.project - self.baseline

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        words = self.target.split()
        if words[0] == "growth":
            measured, (op, value) = self.growth, words[1:]
        else:
            op, value = words
            measured = self.ratio if value.endswith("x") else self.project
        if measured is None:
            return None
        return _COMPARE[op](measured, float(value.rstrip("x")))


def per_call(
    run: Callable[[], object],
    number: int,
    warmup: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds per call of `run` over `number` calls, after `warmup` untimed ones, by `clock`
    (``time.process_time`` for CPU time)."""
    for _ in range(warmup):
        run()
    start = clock()
    for _ in range(number):
        run()
    return (clock() - start) / number


def interleaved_samples(*measures: Callable[[], float], rounds: int = 7) -> list[list[float]]:
    """The figures of each measurement, all taken in turn, `rounds` times over.

    Each callable measures once and returns its figure (seconds per operation, say). Taking them
    in turn spreads the machine's slow spells over all of them, which one block after the other
    would not: on a shared machine a block can land in a quiet spell and the next in a busy one.
    """
    samples: list[list[float]] = [[] for _ in measures]
    for _ in range(rounds):
        for measure, figures in zip(measures, samples, strict=True):
            figures.append(measure())
    return samples


def table(results: list[Result]) -> str:
    lines = [
        "| benchmark | unit | baseline | project | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base = f"{r.baseline:.4g}" if r.baseline is not None else "-"
        if r.target.startswith("growth") and r.growth is not None:
            ratio = f"{r.growth:+.4g}"
        else:
            ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
            if r.spread is not None:
                ratio += f" ({r.spread[0]:.2f}-{r.spread[1]:.2f})"
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
