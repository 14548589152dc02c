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
