"""Fixtures: simulators on port 0, started before the test and stopped after it; bounded waits.

No tango import here: the link's unit tests run without it. Device helpers: `devices.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ccdpc.sim import Simulator


def wait_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Poll `condition()` until true; `AssertionError` naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or condition}")
        time.sleep(0.02)


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """``start_sim(protocol, **options)``: a started simulator, stopped after the test."""
    sims: list[Simulator] = []

    def start(protocol: int = 3, **options: Any) -> Simulator:
        sim = Simulator(protocol=protocol, **options)
        sims.append(sim)
        sim.start()
        return sim

    yield start
    for sim in sims:
        sim.stop()


@pytest.fixture(params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def protocol(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value
