"""Fixtures: simulators on port 0, started before the test and stopped after it; raw clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ccdpc.sim import Simulator

from .rawclient import RawClient

StartSim = Callable[..., Simulator]
Connect = Callable[..., RawClient]


@pytest.fixture
def start_sim() -> Iterator[StartSim]:
    """A factory: ``start_sim(protocol, **options)`` returns a started `Simulator`."""
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


@pytest.fixture
def sim(start_sim: StartSim, protocol: int) -> Simulator:
    """A started simulator of each generation in turn."""
    return start_sim(protocol)


@pytest.fixture
def connect() -> Iterator[Connect]:
    """A factory: ``connect(sim, **options)`` returns a `RawClient`, closed after the test."""
    clients: list[RawClient] = []

    def open_client(sim: Simulator, **options: Any) -> RawClient:
        client = RawClient(sim.port, sim.protocol, **options)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
