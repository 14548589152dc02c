"""Memory: a driver process's RSS before and after heavy traffic.

Each generation is measured in a fresh child process (``python -m benchmarks.memory``), so what
other benchmarks allocated before does not hide growth, and the simulator runs in a process of its
own, so the RSS is the driver's (and the interpreter's). RSS is read after connecting, then after
10,000 command round trips and 200 full frames (2.86 MB each, each dropped by the caller before
the next, as a loop that processes and forgets frames does). A driver that kept anything per
packet or per frame would show it; the target is that the run adds under 10 MB.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys

import psutil  # type: ignore[import-untyped]

import ccdpc

from .driver import GENERATIONS, make_frame
from .harness import Result
from .peers import ROOT, simulators

__all__ = ["measure", "rss_growth", "run"]

MB = 1024 * 1024
_TIMEOUT = 300.0


def _rss() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / MB


def measure(protocol: int, commands: int, frames: int) -> tuple[float, float]:
    """In this process: RSS in MB after connecting, and after the traffic."""
    with simulators(protocol) as (hostname,):
        make_frame(hostname)
        with ccdpc.CCDPC(hostname) as pc:
            start = _rss()
            for _ in range(commands):
                pc.command("STATUS")
            for _ in range(frames):
                pc.read_frame()
            end = _rss()
            received = pc.counters.packets_received
    if received < commands + 2 * frames:
        raise RuntimeError(f"only {received} packets received")
    return start, end


def rss_growth(protocol: int, commands: int, frames: int) -> Result:
    """`measure` in a fresh child process."""
    args = [str(protocol), str(commands), str(frames)]
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *args],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        cwd=ROOT,
        check=True,
    )
    start, end = map(float, child.stdout.split())
    name = f"RSS after {commands:,} commands + {frames} frames of 2.86 MB, gen {protocol}"
    return Result(name, "MB", start, end, "growth < 10", higher_is_better=False)


def run(quick: bool = False) -> list[Result]:
    commands, frames = (200, 5) if quick else (10_000, 200)
    return [rss_growth(protocol, commands, frames) for protocol in GENERATIONS]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("protocol", type=int, choices=GENERATIONS)
    parser.add_argument("commands", type=int)
    parser.add_argument("frames", type=int)
    args = parser.parse_args()
    start, end = measure(args.protocol, args.commands, args.frames)
    print(start, end)


if __name__ == "__main__":
    main()
