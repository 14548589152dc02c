"""A pytest plugin: the fault matrix, what each fault test saw, as tables at the end of the run.

Fault tests ask for the `fault_matrix` fixture and record one case per scenario and generation:

    with fault_matrix.case("stall-first", protocol) as case:
        with case.timed(2), pytest.raises(timeout) as info:
            pc.command("STATUS")
        case.raised(info.value)
        with case.recovery():
            recovers(sim, pc)

At the end of the session, one table per level (driver, tango): a row per scenario, a column per
generation, each cell "outcome, seconds" (and the recovery time). It is printed in the terminal
summary and written as Markdown to ``$CCDPC_FAULT_REPORT``, by default
``<rootdir>/build/fault-matrix.md`` (``build/`` is ignored by git). A test that fails has its
cases say FAILED. A run that records nothing prints and writes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Case", "FaultMatrix", "render_markdown", "render_text"]

LEVELS = ("driver", "tango")
#: The column of a scenario that does not depend on the generation (an unresolvable host, say).
ANY = 0
ENV = "CCDPC_FAULT_REPORT"
FAILED = "FAILED"
_WIDEST_OUTCOME = 50


@dataclass
class Case:
    """One scenario on one generation at one level, as a test saw it."""

    level: str
    scenario: str
    generation: int
    #: What happened: an exception's class and message, a DevFailed reason and State, "ok".
    outcome: str = "incomplete"
    #: Seconds the faulty operation took.
    seconds: float | None = None
    #: Seconds until the next operation worked again; None when not tried.
    recovered: float | None = None
    failed: bool = False

    @contextmanager
    def timed(self, limit: float) -> Iterator[None]:
        """Time the block into `seconds`, and assert that it took less than `limit`."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds = time.monotonic() - start
        assert self.seconds < limit, f"took {self.seconds:.2f} s, over {limit:g} s"

    @contextmanager
    def recovery(self) -> Iterator[None]:
        """Time the block that shows the link works again into `recovered`."""
        start = time.monotonic()
        yield
        self.recovered = time.monotonic() - start

    def raised(self, exc: BaseException) -> None:
        """The outcome is this exception: its class name and message."""
        self.outcome = f"{type(exc).__name__}: {exc}"

    def cell(self) -> str:
        if self.failed:
            return FAILED
        text = self.outcome
        if len(text) > _WIDEST_OUTCOME:
            text = text[: _WIDEST_OUTCOME - 3] + "..."
        if self.seconds is not None:
            text += f", {self.seconds:.2f} s"
        if self.recovered is not None:
            text += f", back in {self.recovered:.2f} s"
        return text


class FaultMatrix:
    """The cases of one test; what the `fault_matrix` fixture gives."""

    def __init__(self, everything: list[Case], level: str) -> None:
        self._everything = everything
        self.level = level
        #: This test's cases (the report hook marks them FAILED if the test fails).
        self.cases: list[Case] = []

    @contextmanager
    def case(
        self, scenario: str, generation: int = ANY, level: str | None = None
    ) -> Iterator[Case]:
        """Record a case; it is in the table from the start, so a failure inside shows."""
        case = Case(level or self.level, scenario, generation)
        self.cases.append(case)
        self._everything.append(case)
        yield case


def _columns(cases: list[Case]) -> list[int]:
    return sorted({case.generation for case in cases})


def _grid(cases: list[Case]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one level's table; scenarios in the order they were first recorded."""
    columns = _columns(cases)
    cells: dict[str, dict[int, list[str]]] = {}
    for case in cases:
        cells.setdefault(case.scenario, {}).setdefault(case.generation, []).append(case.cell())
    header = ["scenario"] + ["any" if g == ANY else f"gen{g}" for g in columns]
    rows = [
        [scenario] + ["; ".join(by_gen.get(g, ["-"])) for g in columns]
        for scenario, by_gen in cells.items()
    ]
    return header, rows


def _by_level(cases: list[Case]) -> Iterator[tuple[str, list[Case]]]:
    levels = [*LEVELS, *sorted({c.level for c in cases} - set(LEVELS))]
    for level in levels:
        mine = [case for case in cases if case.level == level]
        if mine:
            yield level, mine


def render_text(cases: list[Case]) -> str:
    """Plain tables with aligned columns, one per level, for the terminal."""
    blocks = []
    for level, mine in _by_level(cases):
        header, rows = _grid(mine)
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [f"fault matrix, {level} level"]
        for row in [header, ["-" * w for w in widths], *rows]:
            lines.append(
                "  ".join(text.ljust(w) for text, w in zip(row, widths, strict=True)).rstrip()
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def render_markdown(cases: list[Case]) -> str:
    """The same tables in Markdown."""
    blocks = ["# Fault matrix\n\nOutcome and seconds per scenario and generation.\n"]
    for level, mine in _by_level(cases):
        header, rows = _grid(mine)
        lines = [f"## {level.capitalize()} level", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in rows:
            lines.append("| " + " | ".join(text.replace("|", "\\|") for text in row) + " |")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def report_path(config: pytest.Config) -> Path:
    return Path(os.environ.get(ENV) or config.rootpath / "build" / "fault-matrix.md")


_CASES = pytest.StashKey[list[Case]]()
_MATRIX = pytest.StashKey[FaultMatrix]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CASES] = []


@pytest.fixture
def fault_matrix(request: pytest.FixtureRequest) -> FaultMatrix:
    """Record fault cases, level "driver" (tests/tango_server's conftest makes it "tango")."""
    matrix = FaultMatrix(request.config.stash[_CASES], "driver")
    request.node.stash[_MATRIX] = matrix
    return matrix


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    matrix = item.stash.get(_MATRIX, None)
    if matrix is not None and report.failed:
        for case in matrix.cases:
            case.failed = True
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    cases = config.stash.get(_CASES, [])
    if not cases:
        return
    path = report_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(cases), encoding="utf-8")
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write(render_text(cases))
    terminalreporter.write_line(f"written to {path}")
