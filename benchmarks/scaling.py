"""Scaling: 16 CCDPC devices in one server, each streaming binned frames from its own simulator.

The baseline is the same server with one device streaming and the others idle; the figure is
frames/s per device. Each device has a client thread of its own in this process (PyTango releases
the GIL while a call is on the wire). Rounds of one device alone and of all at once alternate.

For context, the same is measured with `BareDevice` (a command returning a preallocated array of
the binned frame's size): how PyTango itself scales on this machine. With fewer cores than
devices no server can keep a per-device rate once the cores are busy; that row tells how much of
the loss is the machine's.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

import tango  # type: ignore[import-untyped]

from tango_server import CCDPC

from .device import BINNED_BYTES, BareDevice
from .harness import Result
from .peers import simulators
from .servers import device_servers, prepare_frame, read_frame

__all__ = ["DEVICES", "run"]

DEVICES = 16
CLIENT_TIMEOUT_MS = 10_000


def _stream(
    proxies: list[tango.DeviceProxy], fetch: Callable[[tango.DeviceProxy], object], seconds: float
) -> float:
    """Every proxy fetching in a thread of its own for about `seconds`: the mean of the devices'
    rates, each counted up to the end of its last fetch."""
    rates = [0.0] * len(proxies)
    errors: list[BaseException] = []
    start = threading.Barrier(len(proxies))

    def client(index: int, proxy: tango.DeviceProxy) -> None:
        start.wait()
        begin = time.perf_counter()
        stop, count = begin + seconds, 0
        try:
            while time.perf_counter() < stop:
                fetch(proxy)
                count += 1
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        rates[index] = count / (time.perf_counter() - begin)

    threads = [
        threading.Thread(target=client, args=(index, proxy), daemon=True)
        for index, proxy in enumerate(proxies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return statistics.mean(rates)


def _compare(
    proxies: list[tango.DeviceProxy],
    fetch: Callable[[tango.DeviceProxy], object],
    seconds: float,
    rounds: int,
) -> tuple[float, float]:
    for proxy in proxies:
        proxy.set_timeout_millis(CLIENT_TIMEOUT_MS)
        fetch(proxy)
    alone, together = [], []
    for _ in range(rounds):
        alone.append(_stream(proxies[:1], fetch, seconds))
        together.append(_stream(proxies, fetch, seconds))
    return statistics.median(alone), statistics.median(together)


def _names(count: int) -> list[str]:
    return [f"bench/scaling/{index}" for index in range(1, count + 1)]


def ccdpc_devices(count: int, seconds: float, rounds: int) -> list[Result]:
    with simulators(3, count) as hostnames:
        devices = {
            name: {"Host": host} for name, host in zip(_names(count), hostnames, strict=True)
        }
        with device_servers(CCDPC, devices) as proxies:
            for proxy in proxies:
                prepare_frame(proxy, binning=2)
            alone, together = _compare(proxies, read_frame, seconds, rounds)
    return [
        Result(
            f"{count} CCDPC devices in one server, binned frames/s per device vs 1 device, gen 3",
            "frames/s",
            alone,
            together,
            ">= 0.8x",
        ),
        # Once one device fills the cores, per device can only fall as 1/count; what the
        # server must not do is lose throughput in all: this row shows whether it does.
        Result(
            f"{count} CCDPC devices in one server, binned frames/s in all vs 1 device (context)",
            "frames/s",
            alone,
            together * count,
        ),
    ]


def bare_devices(count: int, seconds: float, rounds: int) -> list[Result]:
    devices = {name: {"Size": BINNED_BYTES} for name in _names(count)}
    with device_servers(BareDevice, devices) as proxies:
        alone, together = _compare(proxies, lambda proxy: proxy.Get(), seconds, rounds)
    return [
        Result(
            f"{count} bare PyTango devices in one server, 0.72 MB calls/s per device vs 1 "
            "(context)",
            "calls/s",
            alone,
            together,
        ),
        Result(
            f"{count} bare PyTango devices in one server, 0.72 MB calls/s in all vs 1 (context)",
            "calls/s",
            alone,
            together * count,
        ),
    ]


def run(quick: bool = False) -> list[Result]:
    seconds, rounds = (0.3, 1) if quick else (3.0, 3)
    return ccdpc_devices(DEVICES, seconds, rounds) + bare_devices(DEVICES, seconds, rounds)
