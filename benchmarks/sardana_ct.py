"""Sardana: ``ct 0.1`` through the Door against the same exposure through the device directly,
and ``ascan`` points per second.

The baseline is what a client does at best with the device alone: ``Acquire(0.1)``, wait for the
FrameNumber change event, read Frame. The project is ``ct 0.1`` run through the Door of a real
MacroServer and Pool (the CCDPC controller, one measurement group), timed from ``RunMacro`` to
the Door's State event saying it ended: the Pool's acquisition, the frame to the Pool and on to
the MacroServer as the channel's value, and the macro's own work. Both take turns in rounds, on
one simulator (in a child process) and one device server registered in an embedded database.
"""

from __future__ import annotations

import queue
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import tango  # type: ignore[import-untyped]

from tango_server.tools.embedded import (
    DeviceServer,
    EmbeddedDatabase,
    register_device,
    wait_until,
)
from tango_server.tools.sardana_stack import SardanaStack, sardana_stack

from .harness import Result, interleaved_samples
from .peers import simulators

__all__ = ["run"]

DEVICE = "ccdpc/bench/1"
EXPOSURE = 0.1
#: The longest one acquisition may take here, in seconds (a generous bound, never reached).
_TIMEOUT = 30.0


@contextmanager
def _rig() -> Iterator[tuple[Any, SardanaStack]]:
    """A simulator, the device and a Pool and MacroServer for it; the device proxy and stack."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sardana-")))
        (hostname,) = stack.enter_context(simulators(3))
        database = EmbeddedDatabase(folder)
        stack.callback(database.stop)
        database.start()
        register_device(database.tango_host, "CCDPC/bench", "CCDPC", DEVICE, {"Host": hostname})
        server = stack.enter_context(DeviceServer("bench", database.tango_host, folder))
        device = server.wait_for(DEVICE)
        wait_until(lambda: device.State() == tango.DevState.ON, _TIMEOUT, "device ON")
        yield device, stack.enter_context(sardana_stack(database.tango_host, DEVICE, folder))


class _Direct:
    """Acquire, the FrameNumber change event, Frame: a client of the device alone."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.numbers: queue.Queue[int] = queue.Queue()
        device.subscribe_event("FrameNumber", tango.EventType.CHANGE_EVENT, self._on_event)

    def _on_event(self, event: Any) -> None:
        if not event.err and event.attr_value is not None:
            self.numbers.put(int(event.attr_value.value))

    def __call__(self) -> float:
        before = self.device.FrameNumber
        start = time.perf_counter()
        self.device.Acquire(EXPOSURE)
        while self.numbers.get(timeout=_TIMEOUT) <= before:
            pass
        self.device.Frame  # noqa: B018 - reading it is what is timed
        return time.perf_counter() - start


def run(quick: bool = False) -> list[Result]:
    rounds, points = (2, 3) if quick else (9, 11)
    with _rig() as (device, stack):
        direct, door = _Direct(device), stack.door

        def ct() -> float:
            return door.run("ct", f"{EXPOSURE:g}", timeout=_TIMEOUT).seconds

        for _ in range(2):  # first macros load modules and open connections
            direct()
            ct()
        base, project = interleaved_samples(direct, ct, rounds=rounds)
        ascan = ("ascan", stack.motor, "0", "1", str(points - 1), f"{EXPOSURE:g}")
        rates = [points / door.run(*ascan, timeout=_TIMEOUT * points).seconds for _ in range(2)]
    return [
        Result.paired(
            f"ct {EXPOSURE:g} through Sardana (Door, MacroServer, Pool, controller) vs Acquire + "
            "FrameNumber event + Frame on the device, gen 3",
            "s",
            base,
            project,
            "<= 1.3x",
            higher_is_better=False,
        ),
        Result(
            f"ascan of {points} points, {EXPOSURE:g} s each, dummy motor, HDF5 recorder "
            "vs direct acquisitions/s (context)",
            "points/s",
            1 / statistics.median(base),
            max(rates),
        ),
    ]
