"""The driver against a raw socket, per generation: a small command's round trip and a full frame.

Both sides talk to the same simulator (in a child process, `benchmarks.peers`), one connection at
a time as the PC allows, in alternating rounds (`interleaved_samples`). The raw side is
`benchmarks.peers.RawPeer`: precomputed packets, one ``recv_into`` of the known answer length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ccdpc

from .harness import Result, interleaved_samples, per_call
from .peers import RawPeer, simulators

__all__ = ["FRAME_BYTES", "GENERATIONS", "Sizes", "make_frame", "run"]

GENERATIONS = (1, 2, 3)
FRAME_BYTES = 1242 * 1152 * 2


@dataclass(frozen=True)
class Sizes:
    rounds: int
    commands: int  # timed round trips per round and side
    frames: int  # timed frames per round and side
    warmup: int = 3  # untimed exchanges after each connect


FULL = Sizes(rounds=21, commands=500, frames=20)
QUICK = Sizes(rounds=3, commands=20, frames=2, warmup=1)


def make_frame(hostname: str, binning: int = 1) -> None:
    """Have the simulator take a frame (exposure 0), so that READ has one to send."""
    with ccdpc.CCDPC(hostname) as pc:
        ccdpc.Detector(pc).acquire(0.0, binning, timeout=10.0)


def _raw(
    hostname: str, protocol: int, command: bytes, number: int, warmup: int, *, crc: bool = False
) -> float:
    peer = RawPeer(hostname, protocol)
    try:
        peer.prepare(command, number + warmup)
        return per_call(peer.exchange_checked if crc else peer.exchange, number, warmup)
    finally:
        peer.close()


def _driver(hostname: str, call: Callable[[ccdpc.Connection], object], n: int, w: int) -> float:
    with ccdpc.CCDPC(hostname) as pc:
        return per_call(lambda: call(pc), n, w)


def round_trip(hostname: str, protocol: int, sizes: Sizes) -> Result:
    """``command("STATUS")`` against the same bytes sent and received raw."""
    n, w = sizes.commands, sizes.warmup
    raw, project = (
        [seconds * 1e6 for seconds in figures]
        for figures in interleaved_samples(
            lambda: _raw(hostname, protocol, b"STATUS", n, w),
            lambda: _driver(hostname, lambda pc: pc.command("STATUS"), n, w),
            rounds=sizes.rounds,
        )
    )
    name = f'command("STATUS") round trip, gen {protocol}'
    return Result.paired(name, "µs", raw, project, "<= 1.2x", higher_is_better=False)


def frame_transfer(hostname: str, protocol: int, sizes: Sizes) -> list[Result]:
    """``read_frame()`` of a 2.86 MB frame against READ and a raw receive of the same bytes.

    Twice: into a new buffer per frame (the default), and into one buffer lent for every frame
    (``into=``), which is what the raw side does. Generation 3 adds a context row: the raw
    receive with a CRC-32 of the bytes as they land, the least a client that checks the frames'
    CRC must do.
    """
    n, w = sizes.frames, min(sizes.warmup, 1)
    lent = bytearray(FRAME_BYTES)
    measures = [
        lambda: _raw(hostname, protocol, b"READ", n, w),
        lambda: _driver(hostname, lambda pc: pc.read_frame(), n, w),
        lambda: _driver(hostname, lambda pc: pc.read_frame(into=lent), n, w),
    ]
    if protocol == 3:
        measures.append(lambda: _raw(hostname, protocol, b"READ", n, w, crc=True))
    mb = FRAME_BYTES / 1e6
    raw, fresh, into, *checked = (
        [mb / seconds for seconds in figures]
        for figures in interleaved_samples(*measures, rounds=sizes.rounds)
    )
    results = [
        Result.paired(f"read_frame 2.86 MB, gen {protocol}", "MB/s", raw, fresh, ">= 0.9x"),
        Result.paired(
            f"read_frame(into=buffer) 2.86 MB, gen {protocol}", "MB/s", raw, into, ">= 0.9x"
        ),
    ]
    for floor in checked:
        name = f"raw recv_into + zlib.crc32 of the same bytes (context), gen {protocol}"
        results.append(Result.paired(name, "MB/s", raw, floor))
    return results


def run(quick: bool = False) -> list[Result]:
    sizes = QUICK if quick else FULL
    results = []
    for protocol in GENERATIONS:
        with simulators(protocol) as (hostname,):
            make_frame(hostname)
            results.append(round_trip(hostname, protocol, sizes))
            results += frame_transfer(hostname, protocol, sizes)
    return results
