"""What a client sees of a large message while it arrives: the progress hook, and the trace's
excerpt of it (its start and size, never a copy of the whole frame)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

import ccdpc
from ccdpc import CCDPC, Detector
from ccdpc.sim import Simulator, synthetic_frame
from ccdpc.trace import TRACE_BYTES, Excerpt, excerpt, hexdump_line

StartSim = Callable[..., Simulator]
BINNED = 621 * 576 * 2


def test_progress_follows_a_frame_to_its_end(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, seed=5)
    with CCDPC(sim.hostname) as pc:
        Detector(pc).acquire(0, 2)  # the frame taken and read once without a hook
        calls: list[tuple[int, int]] = []
        pc.progress = lambda received, total: calls.append((received, total))
        pc.command("STATUS")
        assert calls == []  # small messages: no calls
        frame = pc.read_frame()
    assert bytes(frame.pixels) == synthetic_frame(621, 576, 5, 1)
    assert {total for _, total in calls} == {BINNED}
    received = [done for done, _ in calls]
    assert received == sorted(received) and received[-1] == BINNED
    assert len(calls) >= 1 + BINNED // 262144  # the start, then a call per chunk of <= 256 KiB
    assert all(b - a <= 262144 for a, b in itertools.pairwise(received))


def test_a_progress_hook_that_raises_closes_the_link(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname)
    Detector(pc).acquire(0, 2)

    def hook(received: int, total: int) -> None:
        if received > total // 2:
            raise RuntimeError("enough")

    pc.progress = hook
    with pytest.raises(RuntimeError, match="enough"):
        pc.read_frame()
    assert not pc.connected  # cut in the middle of a message: never reused
    pc.close()


def test_trace_gets_an_excerpt_of_a_frame(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    packets: list[tuple[str, bytes | bytearray | memoryview]] = []
    with CCDPC(sim.hostname, trace=lambda d, b: packets.append((d, b))) as pc:
        Detector(pc).acquire(0, 2)
    big = [data for _, data in packets if isinstance(data, Excerpt)]
    assert len(big) == 1
    header = {1: 0, 2: 12, 3: 24}[protocol]  # generation 1: the data after its DA record
    assert (len(big[0]), big[0].size, big[0].more) == (
        TRACE_BYTES,
        header + BINNED,
        header + BINNED - TRACE_BYTES,
    )
    assert all(len(data) <= TRACE_BYTES for _, data in packets)
    line = hexdump_line("<", big[0])
    assert f"{header + BINNED:8d} bytes | " in line
    assert f"... ({header + BINNED - 32} more) |" in line


def test_excerpt_keeps_small_packets_whole() -> None:
    assert excerpt([b"abc"]) == b"abc" and not isinstance(excerpt([b"abc"]), Excerpt)
    assert excerpt([b"ab", bytearray(b"cd")]) == b"abcd"
    parts = [b"h" * 10, bytearray(1000)]
    cut = excerpt(parts)
    assert isinstance(cut, Excerpt)
    assert (bytes(cut), cut.size) == (b"h" * 10 + bytes(TRACE_BYTES - 10), 1010)
    assert "|" in hexdump_line(">", cut) and "(978 more)" in hexdump_line(">", cut)


def test_progress_is_part_of_the_public_api() -> None:
    assert ccdpc.Connection.progress is None  # off unless set
