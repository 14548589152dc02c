"""Scaling: 16 CCDPC devices in one server, each streaming binned frames from its own simulator.

The baseline is the same server with one device streaming and the others idle; the figures are
per device. Each device has a client thread of its own in this process (PyTango releases the GIL
while a call is on the wire). Rounds of one device alone and of all at once alternate.

Two ways of streaming are measured:

- Paced: each client fetches at a detector's rate, `PACE` binned frames/s, on a fixed schedule.
  A detector produces frames at its own rate, so the question for users is whether 16 devices in
  one server keep up with 16 detectors: frames/s per device together vs alone, with the issue's
  target. Twice: with the clients starting together, so that their fetches coincide, as with
  detectors on one trigger (the worst case for the server), and free-running, each client's
  schedule shifted by a random share of the period (seeded), as with detectors on clocks of their
  own. The 90th percentile of one fetch's time alone vs together shows what sharing the server
  costs each fetch; `BareDevice` paced on one trigger shows the least that can be on this machine.
- Saturated: each client fetches as fast as it can. One device alone already fills the cores of
  a small machine, so 16 can only get 1/16 of that each and the per-device target cannot be met
  this way; the row stays to show the machine's limit, and the "in all" row shows whether the
  server loses throughput in all once the cores are shared.

For context, saturated streaming is also measured with `BareDevice` (a command returning a
preallocated array of the binned frame's size): how PyTango itself scales on this machine. With
fewer cores than devices no server can keep a saturated per-device rate once the cores are busy;
those rows tell how much of the loss is the machine's.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]
import tango  # type: ignore[import-untyped]

from tango_server import CCDPC

from .device import BINNED_BYTES, BareDevice
from .harness import Result
from .peers import simulators
from .servers import device_servers, prepare_frame, read_frame

__all__ = ["DEVICES", "PACE", "run"]

DEVICES = 16
PACE = 10.0  # binned frames/s of a paced client: a detector's rate
CLIENT_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Figures:
    """One measurement: `rate`, fetches/s per device (the mean over the devices), `latency`,
    the 90th percentile of one fetch's time in seconds over the fetches of all devices, and
    `cpu`, the CPU seconds per fetch of all the processes of the run (clients, device server,
    simulators)."""

    rate: float
    latency: float
    cpu: float


def _cpu_seconds() -> float:
    """The CPU time of this process and of every process it started, so far."""
    total = 0.0
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended meanwhile
            continue
        total += times.user + times.system
    return total


def _stream(
    proxies: list[tango.DeviceProxy],
    fetch: Callable[[tango.DeviceProxy], object],
    seconds: float,
    pace: float | None = None,
    phases: list[float] | None = None,
) -> Figures:
    """Every proxy fetching in a thread of its own for about `seconds`, each device's rate counted
    up to the end of its last fetch or to `seconds`, whichever is later.

    Without `pace` each fetches as fast as it can; with it, the k-th fetch is due `k / pace` after
    the start: a client behind schedule fetches at once (so it catches up to the schedule, never
    beyond), one ahead sleeps until the fetch is due. `phases` (one per proxy, in periods) delays
    each client's schedule by that share of a period; without it all start together."""
    rates = [0.0] * len(proxies)
    latencies: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(proxies))

    def client(index: int, proxy: tango.DeviceProxy) -> None:
        start.wait()
        begin = time.perf_counter()
        if pace and phases:
            begin += phases[index] / pace
        stop, count = begin + seconds, 0
        try:
            while (now := time.perf_counter()) < stop:
                due = begin + count / pace if pace else now
                if due > now:
                    time.sleep(min(due, stop) - now)
                    continue
                fetch(proxy)
                latencies.append(time.perf_counter() - now)
                count += 1
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        rates[index] = count / (max(time.perf_counter(), stop) - begin)

    threads = [
        threading.Thread(target=client, args=(index, proxy), daemon=True)
        for index, proxy in enumerate(proxies)
    ]
    cpu = _cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = _cpu_seconds() - cpu
    if errors:
        raise errors[0]
    return Figures(
        statistics.mean(rates),
        statistics.quantiles(latencies, n=10, method="inclusive")[-1],
        cpu / max(len(latencies), 1),
    )


@dataclass(frozen=True)
class Rounds:
    """The figures of the rounds of one device alone and of all of them together."""

    alone: list[Figures]
    together: list[Figures]

    def rates(self, together_times: int = 1) -> tuple[list[float], list[float]]:
        """Fetches/s per device, round by round; together ones multiplied by `together_times`
        (the number of devices: the rate in all)."""
        return [f.rate for f in self.alone], [f.rate * together_times for f in self.together]

    def latencies(self) -> tuple[list[float], list[float]]:
        """The 90th percentile of one fetch's time in ms, round by round."""
        return [f.latency * 1e3 for f in self.alone], [f.latency * 1e3 for f in self.together]

    def cpu(self) -> tuple[list[float], list[float]]:
        """The CPU time of all processes per fetch in ms, round by round."""
        return [f.cpu * 1e3 for f in self.alone], [f.cpu * 1e3 for f in self.together]


def _compare(
    proxies: list[tango.DeviceProxy],
    fetch: Callable[[tango.DeviceProxy], object],
    seconds: float,
    rounds: int,
    *,
    pace: float | None = None,
    phases: list[float] | None = None,
) -> Rounds:
    """The first device alone and all of them together, in alternating rounds."""
    for proxy in proxies:
        proxy.set_timeout_millis(CLIENT_TIMEOUT_MS)
        fetch(proxy)
    alone, together = [], []
    for _ in range(rounds):
        alone.append(_stream(proxies[:1], fetch, seconds, pace))
        together.append(_stream(proxies, fetch, seconds, pace, phases))
    return Rounds(alone, together)


def free_running(count: int, seed: int = 15) -> list[float]:
    """Phases of `count` detectors that run each on its own clock: uniformly random shares of a
    period, the same in every run (seeded)."""
    rng = random.Random(seed)
    return [rng.random() for _ in range(count)]


def _names(count: int) -> list[str]:
    return [f"bench/scaling/{index}" for index in range(1, count + 1)]


def ccdpc_devices(count: int, seconds: float, paced_seconds: float, rounds: int) -> list[Result]:
    with simulators(3, count) as hostnames:
        devices = {
            name: {"Host": host} for name, host in zip(_names(count), hostnames, strict=True)
        }
        with device_servers(CCDPC, devices) as proxies:
            for proxy in proxies:
                prepare_frame(proxy, binning=2)
            saturated = _compare(proxies, read_frame, seconds, rounds)
            paced = _compare(proxies, read_frame, paced_seconds, rounds, pace=PACE)
            free = _compare(
                proxies, read_frame, paced_seconds, rounds, pace=PACE, phases=free_running(count)
            )
    each_paced = f"{count} CCDPC devices in one server, each paced at {PACE:g} binned frames/s"
    return [
        Result.paired(
            f"{count} CCDPC devices in one server, binned frames/s per device vs 1 device, gen 3",
            "frames/s",
            *saturated.rates(),
            ">= 0.8x",
        ),
        # Once one device fills the cores, per device can only fall as 1/count; what the
        # server must not do is lose throughput in all: this row shows whether it does.
        Result.paired(
            f"{count} CCDPC devices in one server, binned frames/s in all vs 1 device (context)",
            "frames/s",
            *saturated.rates(count),
        ),
        Result.paired(
            f"{each_paced}: frames/s per device vs 1 device, gen 3",
            "frames/s",
            *paced.rates(),
            ">= 0.8x",
        ),
        Result.paired(
            f"{each_paced} on one trigger: 90th percentile ms per fetch vs 1 device",
            "ms",
            *paced.latencies(),
            "<= 2x",
            higher_is_better=False,
        ),
        Result.paired(
            f"{each_paced}, free-running (random phases): 90th percentile ms per fetch vs 1 device",
            "ms",
            *free.latencies(),
            "<= 2x",
            higher_is_better=False,
        ),
        # Whether sharing the server costs each fetch more work (GIL hand-offs, contention),
        # or only a wait for the cores: the CPU time of a fetch, in all processes.
        Result.paired(
            f"{each_paced}: CPU ms per fetch, all processes, vs 1 device (context)",
            "ms",
            *paced.cpu(),
            higher_is_better=False,
        ),
    ]


def bare_devices(count: int, seconds: float, paced_seconds: float, rounds: int) -> list[Result]:
    """The same with `BareDevice`: a fetch is one call returning 0.72 MB, the least any device
    can do. Paced on one trigger, it shows the floor this machine sets: `count` fetches that
    start together share its cores, whatever the device does."""
    devices = {name: {"Size": BINNED_BYTES} for name in _names(count)}
    with device_servers(BareDevice, devices) as proxies:
        saturated = _compare(proxies, lambda proxy: proxy.Get(), seconds, rounds)
        paced = _compare(proxies, lambda proxy: proxy.Get(), paced_seconds, rounds, pace=PACE)
    return [
        Result.paired(
            f"{count} bare PyTango devices in one server, each paced at {PACE:g} 0.72 MB calls/s "
            "on one trigger: 90th percentile ms per call vs 1 (context)",
            "ms",
            *paced.latencies(),
            higher_is_better=False,
        ),
        Result.paired(
            f"{count} bare PyTango devices in one server, 0.72 MB calls/s per device vs 1 "
            "(context)",
            "calls/s",
            *saturated.rates(),
        ),
        Result.paired(
            f"{count} bare PyTango devices in one server, 0.72 MB calls/s in all vs 1 (context)",
            "calls/s",
            *saturated.rates(count),
        ),
    ]


def run(quick: bool = False) -> list[Result]:
    """Saturated rounds of `seconds`, paced rounds of `paced_seconds`: a paced round must span
    several fetches of each device."""
    seconds, paced_seconds, rounds = (0.3, 0.5, 1) if quick else (3.0, 3.0, 3)
    return ccdpc_devices(DEVICES, seconds, paced_seconds, rounds) + bare_devices(
        DEVICES, seconds, paced_seconds, rounds
    )
