"""The Tango device: `Receive` of a 2.86 MB message against a bare PyTango command, and frames/s
end to end.

The baseline is what PyTango does at best on this machine: `BareDevice.Get` returns a
preallocated numpy array of the same size. The CCDPC device's `Receive` is timed when the data
message is already in its inbox (the READ is sent and its reply taken before the clock starts), so
both sides time the same thing: one command that returns 2.86 MB already in the server's memory.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import tango  # type: ignore[import-untyped]
from tango import DevState, GreenMode
from tango.server import (  # type: ignore[import-untyped]
    Device,
    attribute,
    command,
    device_property,
)

from tango_server import CCDPC

from .driver import FRAME_BYTES, GENERATIONS
from .harness import Result
from .peers import simulators
from .servers import READ, WAIT_MS, device_server, prepare_frame, read_frame, wait_for

__all__ = ["BINNED_BYTES", "BareDevice", "run"]

BINNED_BYTES = 621 * 576 * 2


class BareDevice(Device):  # type: ignore[misc]
    """A command returning a preallocated uint8 array of `Size` bytes, and an image attribute of
    a full frame's shape (uint16), and nothing else."""

    green_mode = GreenMode.Synchronous
    Size = device_property(dtype=int, default_value=FRAME_BYTES)

    def init_device(self) -> None:
        super().init_device()
        self._data = np.arange(int(self.Size), dtype=np.uint64).astype(np.uint8)
        self._image = np.arange(1152 * 1242, dtype=np.uint64).astype(np.uint16).reshape(1152, 1242)
        self.set_state(DevState.ON)

    @attribute(dtype=((np.uint16,),), max_dim_x=1242, max_dim_y=1152)  # type: ignore[untyped-decorator]
    def Image(self) -> np.ndarray:  # noqa: N802 - a Tango attribute
        return self._image

    @command(dtype_out="DevVarCharArray")  # type: ignore[untyped-decorator]
    def Get(self) -> np.ndarray:  # noqa: N802 - a Tango command
        return self._data


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _alternating(
    bare: Callable[[], object],
    project: Callable[[], object],
    samples: int,
    prepare: Callable[[], object] | None = None,
) -> tuple[list[float], list[float]]:
    """Milliseconds of `bare` and of `project`, each timed `samples` times right after `prepare`,
    in alternating order (on two shared cores the call that comes first after a quiet spell or
    after a burst is slower), after one warm-up call of each."""
    base, mine = [], []
    for index in range(samples + 1):
        if prepare is not None:
            prepare()
        if index % 2:
            b, p = _timed(bare), _timed(project)
        else:
            p, b = _timed(project), _timed(bare)
        if index:
            base.append(b * 1e3)
            mine.append(p * 1e3)
    return base, mine


def _receive_ready(dev: tango.DeviceProxy) -> None:
    """READ, its reply taken, and the data waiting in the inbox."""
    dev.Send(READ)
    dev.Receive(WAIT_MS)
    wait_for(lambda: dev.PendingPackets, "the data in the inbox")


def receive(samples: int) -> Result:
    """`Receive` of a 2.86 MB data message against `BareDevice.Get` of the same size."""
    with (
        simulators(3) as (hostname,),
        device_server(BareDevice, {"Size": FRAME_BYTES}) as bare,
        device_server(CCDPC, {"Host": hostname}) as dev,
    ):
        prepare_frame(dev)
        base, project = _alternating(
            bare.Get, lambda: dev.Receive(WAIT_MS), samples, lambda: _receive_ready(dev)
        )
    return Result.paired(
        "Tango Receive of 2.86 MB already in the inbox vs bare command, gen 3",
        "ms",
        base,
        project,
        "<= 1.1x",
        higher_is_better=False,
    )


def frame_attribute(samples: int) -> Result:
    """Reading the `Frame` image attribute (a full frame) against `BareDevice.Image`."""
    with (
        simulators(3) as (hostname,),
        device_server(BareDevice, {}) as bare,
        device_server(CCDPC, {"Host": hostname}) as dev,
    ):
        wait_for(lambda: dev.State() == DevState.ON, "the device ON")
        dev.Acquire(0)
        wait_for(lambda: dev.FrameNumber == 1 and dev.State() == DevState.ON, "the first frame")
        base, project = _alternating(lambda: bare.Image, lambda: dev.Frame, samples)
    return Result.paired(
        "Tango Frame attribute (1242x1152 uint16) vs bare image attribute, gen 3",
        "ms",
        base,
        project,
        "<= 1.1x",
        higher_is_better=False,
    )


def end_to_end(protocol: int, frames: int, rounds: int) -> Result:
    """Frames/s of binned frames from the simulator through driver, device and a DeviceProxy."""
    with simulators(protocol) as (hostname,), device_server(CCDPC, {"Host": hostname}) as dev:
        prepare_frame(dev, binning=2)
        read_frame(dev)
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(frames):
                if read_frame(dev) != BINNED_BYTES:
                    raise RuntimeError("the device returned a frame of the wrong size")
            rates.append(frames / (time.perf_counter() - start))
    return Result(
        "end to end, binned 0.72 MB frames via Send(READ)+2 Receive "
        f"(no Frame attr.), gen {protocol}",
        "frames/s",
        None,
        statistics.median(rates),
        ">= 100",
    )


def run(quick: bool = False) -> list[Result]:
    results = [receive(samples=3 if quick else 61), frame_attribute(samples=3 if quick else 61)]
    for protocol in GENERATIONS:
        results.append(end_to_end(protocol, frames=3 if quick else 40, rounds=2 if quick else 5))
    return results
