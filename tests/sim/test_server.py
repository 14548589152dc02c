"""The server's life: construction, start/stop/restart, one controlling client, lost links."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ccdpc import gen2, gen3
from ccdpc.gen1 import RECORD_SIZE
from ccdpc.messages import Status
from ccdpc.sim import FAULTS, Simulator

from .conftest import Connect, StartSim
from .rawclient import RawClient, wait_until


def test_construction_is_validated() -> None:
    with pytest.raises(ValueError, match="protocol must be 1, 2 or 3"):
        Simulator(protocol=4)
    with pytest.raises(ValueError, match="valid: silent, stall-first"):
        Simulator(faults=["stall", "silent"])
    for fault in ("bad-crc", "drop-session"):
        with pytest.raises(ValueError, match="need protocol 3"):
            Simulator(protocol=1, faults=[fault])
    with pytest.raises(ValueError, match="slow_delay must be at least 0"):
        Simulator(slow_delay=-0.1)
    with pytest.raises(ValueError, match="slow_chunk must be at least 1"):
        Simulator(slow_chunk=0)
    sim = Simulator(protocol=2)
    with pytest.raises(ValueError, match="unknown fault"):
        sim.set_faults(["nope"])
    with pytest.raises(ValueError, match="need protocol 3"):
        sim.set_faults(["bad-crc"])
    assert sim.faults == frozenset()


def test_faults_list() -> None:
    assert set(FAULTS) == {
        "silent",
        "stall-first",
        "stall-mid",
        "close-mid",
        "garbage",
        "wrong-version",
        "trickle",
        "huge-length",
        "bad-crc",
        "reset",
        "drop-session",
        "slow",
        "half-close",
        "header-only",
    }
    sim = Simulator(faults=["trickle"])
    sim.set_faults(["stall-mid", "garbage"])
    assert sim.faults == frozenset({"stall-mid", "garbage"})


def test_start_binds_a_free_port_and_stop_is_idempotent() -> None:
    with Simulator(protocol=1) as sim:
        assert sim.port != 0
        assert sim.hostname == f"127.0.0.1:{sim.port}"
        with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as sock:
            assert sock.recv(16) == b"CCDPC/1.0     \r\n"
        sim.stop()
        sim.stop()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", sim.port), timeout=2).close()


def test_restart_uses_the_same_port(start_sim: StartSim, connect: Connect) -> None:
    sim = start_sim(2)
    port = sim.port
    connect(sim).command("EXPOSE 0 2")
    wait_until(lambda: sim.detector.frames_taken == 1)
    sim.restart()
    assert sim.port == port
    assert connect(sim).command("STATUS").text == "IDLE frames=0"


@pytest.mark.parametrize(
    ("protocol", "refusal"),
    [
        (1, b"ER BUSY another client is connected".ljust(RECORD_SIZE)),
        (2, gen2.encode_packet(gen2.Type.REPLY, b"another client is connected", 0, Status.BUSY)),
        (3, gen3.encode_frame(gen3.Type.CLOSE, b"busy: another client is connected")),
    ],
    ids=["gen1", "gen2", "gen3"],
)
def test_a_second_client_is_refused(
    start_sim: StartSim, connect: Connect, protocol: int, refusal: bytes
) -> None:
    sim = start_sim(protocol)
    first = connect(sim)
    second = connect(sim, open_session=False)
    assert second.greeting == f"CCDPC/{protocol}.0     \r\n".encode()
    assert second.read_until_eof() == refusal
    assert first.command("STATUS").text == "IDLE frames=0", "the first client is still served"
    assert sim.connections == 2


def test_the_next_client_is_served_once_the_first_leaves(sim: Simulator, connect: Connect) -> None:
    first = connect(sim)
    first.command("IDENT")
    first.close()
    second = connect(sim)
    assert second.command("STATUS").text == "IDLE frames=0"


def test_disconnect_clients_closes_with_fin(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    assert sim.connected
    sim.disconnect_clients()
    assert client.read_until_eof() == b""
    assert not sim.connected
    assert connect(sim).command("STATUS").text == "IDLE frames=0"


def test_stop_is_quick_with_a_client_that_does_not_read(start_sim: StartSim) -> None:
    before = set(threading.enumerate())
    sim = start_sim(2)
    client = RawClient(sim.port, 2)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.command("EXPOSE 0")
    wait_until(lambda: sim.detector.frames_taken == 1)
    for _ in range(3):
        client.send_command("READ")  # 8.6 MB that nobody reads: the writer blocks in send
    time.sleep(0.1)  # not a synchronisation: lets the writer fill the buffers and block
    start = time.monotonic()
    sim.stop()
    # Quick: far less than the 10 s send timeout a blocked writer could hold it for, with room
    # for a loaded machine.
    assert time.monotonic() - start < 3.0
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("ccdpc-sim")]
    client.close()


def test_connections_counts_every_accept(start_sim: StartSim, connect: Connect) -> None:
    sim = start_sim(1)
    for _ in range(3):
        connect(sim).close()
    assert sim.connections == 3
