"""The driver against a raw socket, per generation: a small command's round trip and a full frame.

Both sides talk to the same simulator (in a child process, `benchmarks.peers`), one connection at
a time as the PC allows, in alternating rounds (`interleaved_samples`). The raw side is
`benchmarks.peers.RawPeer`: precomputed packets, one ``recv_into`` of the known answer length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import ccdpc
from ccdpc import checksum

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
    hostname: str,
    protocol: int,
    command: bytes,
    number: int,
    warmup: int,
    *,
    crc: str = "",
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The raw baseline; with `crc` (a name in `ccdpc.checksum.CRC32S`), that CRC-32 of the
    bytes as they land."""
    peer = RawPeer(hostname, protocol)
    try:
        peer.prepare(command, number + warmup)
        if not crc:
            return per_call(peer.exchange, number, warmup, clock)
        peer.crc32 = checksum.CRC32S[crc]
        return per_call(peer.exchange_checked, number, warmup, clock)
    finally:
        peer.close()


def _driver(
    hostname: str,
    call: Callable[[ccdpc.Connection], object],
    n: int,
    w: int,
    *,
    crc: str = "",
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The driver; with `crc`, computing its CRC-32s with that implementation."""
    saved = checksum.using
    checksum.use(crc or saved)
    try:
        with ccdpc.CCDPC(hostname) as pc:
            return per_call(lambda: call(pc), n, w, clock)
    finally:
        checksum.use(saved)


def _read_frame(pc: ccdpc.Connection, into: bytearray | None = None) -> object:
    return pc.read_frame(into=into)


def _watched_read_frame(pc: ccdpc.Connection, into: bytearray) -> object:
    """`read_frame`, a progress hook watching it: what a progress bar costs."""
    seen = [0]

    def hook(received: int, total: int) -> None:
        seen[0] = received

    pc.progress = hook
    frame = pc.read_frame(into=into)
    assert seen[0] == FRAME_BYTES
    return frame


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
    (``into=``), which is what the raw side does. Generation 3 does so with each CRC-32 installed
    (`ccdpc.checksum.CRC32S`), all against the same raw receive, and adds context rows: the raw
    receive with each CRC-32 of the bytes as they land, the least a client that checks the
    frames' CRC must do. Last, the lent-buffer read with a progress hook (`Connection.progress`)
    against the same without one.
    """
    n, w = sizes.frames, min(sizes.warmup, 1)
    lent = bytearray(FRAME_BYTES)
    crcs = list(checksum.CRC32S) if protocol == 3 else [""]
    measures: list[Callable[[], float]] = [partial(_raw, hostname, protocol, b"READ", n, w)]
    for crc in crcs:
        measures += [
            partial(_driver, hostname, _read_frame, n, w, crc=crc),
            partial(_driver, hostname, partial(_read_frame, into=lent), n, w, crc=crc),
        ]
    if protocol == 3:
        measures += [partial(_raw, hostname, protocol, b"READ", n, w, crc=crc) for crc in crcs]
    measures.append(partial(_driver, hostname, partial(_watched_read_frame, into=lent), n, w))
    mb = FRAME_BYTES / 1e6
    raw, *figures, watched = (
        [mb / seconds for seconds in figures]
        for figures in interleaved_samples(*measures, rounds=sizes.rounds)
    )
    target = ">= 0.95x" if protocol == 3 else ">= 0.9x"
    results = []
    for index, crc in enumerate(crcs):
        fresh, into = figures[2 * index], figures[2 * index + 1]
        which = f" (CRC-32: {crc})" if crc else ""
        results += [
            Result.paired(f"read_frame 2.86 MB, gen {protocol}{which}", "MB/s", raw, fresh, target),
            Result.paired(
                f"read_frame(into=buffer) 2.86 MB, gen {protocol}{which}", "MB/s", raw, into, target
            ),
        ]
    for crc, floor in zip(crcs, figures[2 * len(crcs) :], strict=False):
        name = f"raw recv_into + {crc} crc32 of the same bytes (context), gen {protocol}"
        results.append(Result.paired(name, "MB/s", raw, floor))
    name = (
        f"read_frame(into=buffer) 2.86 MB with a progress hook vs without (context), gen {protocol}"
    )
    results.append(Result.paired(name, "MB/s", figures[1], watched))
    return results


def frame_cpu(hostname: str, sizes: Sizes) -> list[Result]:
    """Generation 3: the client's CPU time per ``read_frame(into=buffer)`` of 2.86 MB against a
    raw receive with the same CRC-32 of the bytes as they land, for each CRC-32 installed, and
    with a progress hook against without. A transfer's wall time is mostly the peer and the
    scheduler, and moves with the neighbours' load; the client's CPU time is its own work."""
    n, w = sizes.frames, min(sizes.warmup, 1)
    lent = bytearray(FRAME_BYTES)
    cpu = time.process_time
    crcs = list(checksum.CRC32S)
    measures: list[Callable[[], float]] = []
    for crc in crcs:
        measures += [
            partial(_raw, hostname, 3, b"READ", n, w, crc=crc, clock=cpu),
            partial(_driver, hostname, partial(_read_frame, into=lent), n, w, crc=crc, clock=cpu),
        ]
    measures.append(
        partial(_driver, hostname, partial(_watched_read_frame, into=lent), n, w, clock=cpu)
    )
    figures = [
        [seconds * 1e3 for seconds in series]
        for series in interleaved_samples(*measures, rounds=sizes.rounds)
    ]
    results = []
    for index, crc in enumerate(crcs):
        raw, project = figures[2 * index], figures[2 * index + 1]
        name = (
            f"client CPU per read_frame(into=buffer) 2.86 MB vs raw recv_into + {crc} crc32 "
            "(context), gen 3"
        )
        results.append(Result.paired(name, "ms", raw, project, higher_is_better=False))
    name = "client CPU per read_frame(into=buffer) 2.86 MB with a progress hook vs without, gen 3"
    results.append(
        Result.paired(name, "ms", figures[1], figures[-1], "<= 1.05x", higher_is_better=False)
    )
    return results


def run(quick: bool = False) -> list[Result]:
    sizes = QUICK if quick else FULL
    results = []
    for protocol in GENERATIONS:
        with simulators(protocol) as (hostname,):
            make_frame(hostname)
            results.append(round_trip(hostname, protocol, sizes))
            results += frame_transfer(hostname, protocol, sizes)
            if protocol == 3:
                results += frame_cpu(hostname, sizes)
    return results
