"""Shared fixtures: real TCP peers on loopback, port 0, ready before the test starts."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis  # noqa: F401  (see below)
import pytest

from ccdpc import config
from ccdpc.sim import Simulator

from .peers import ScriptedPeer

# Hypothesis is imported (and its modules rewritten by pytest) now, at collection: its plugin
# would otherwise import it in the terminal summary, after the Qt and Tango tests, where
# CPython 3.11's ast.parse can fail with "AST constructor recursion depth mismatch"
# (python/cpython#106905) and a run whose tests all passed exits 1.

# The fault matrix: the `fault_matrix` fixture and the summary table (tests/fault_report.py).
pytest_plugins = ["tests.fault_report"]


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected (client, server) pair of TCP sockets on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.settimeout(5)
    yield client, server
    client.close()
    server.close()


@pytest.fixture(autouse=True)
def _restore_config() -> Iterator[None]:
    """Tests may change `ccdpc.config`; put it back afterwards."""
    saved = {name: getattr(config, name) for name in dir(config) if not name.startswith("_")}
    yield
    for name, value in saved.items():
        setattr(config, name, value)


@pytest.fixture
def scripted_peer() -> Iterator[Callable[[Callable[[socket.socket], None]], ScriptedPeer]]:
    peers: list[ScriptedPeer] = []

    def start(script: Callable[[socket.socket], None]) -> ScriptedPeer:
        peer = ScriptedPeer(script)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.close()


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """``start_sim(protocol=3, **options)``: a started simulator on a free port, stopped after
    the test."""
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
    """Each protocol generation in turn."""
    value: int = request.param
    return value
