"""Taking images through the device, on every generation: Acquire, Expose, ReadFrame, Abort,
SaveFrame, the Frame attribute pixel-exact, and the FrameNumber events.

One simulator and one device server per generation, shared by the tests of this module; each test
leaves the device connected, idle, with binning 1 and nothing pending.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Iterator
from pathlib import Path

import fabio  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc import DetectorState
from ccdpc.sim import Simulator, synthetic_frame

from .conftest import wait_until
from .devices import drain, reason, saving_pc

Image = npt.NDArray[np.uint16]
#: What Status says while a frame arrives: its size first, then how much of it is in.
TRANSFER = re.compile(r"transferring the frame|reading [0-9.]+ of [0-9.]+ MB")
READING = re.compile(r"ReadFrame: reading [0-9.]+ of 0\.72 MB")
PC = tuple[Simulator, tango.DeviceProxy, Path]


@pytest.fixture(scope="module", params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def pc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PC]:
    folder = tmp_path_factory.mktemp(f"frames{request.param}")
    with saving_pc(request.param, folder) as (sim, dev):  # trickle_delay 0: the abort test
        yield sim, dev, folder


@pytest.fixture
def sim(pc: PC) -> Simulator:
    return pc[0]


@pytest.fixture
def dev(pc: PC) -> Iterator[tango.DeviceProxy]:
    sim, dev, _ = pc
    yield dev
    sim.set_faults([])
    wait_until(lambda: dev.State() in (DevState.ON, DevState.ALARM), 10, "idle after the test")
    sim.detector.reset()
    dev.Binning = 1
    drain(dev)


def expected(sim: Simulator, width: int, height: int) -> Image:
    """The PC's last frame, as the simulator makes it."""
    pixels = synthetic_frame(width, height, sim.detector.seed, sim.detector.frames_taken)
    return np.frombuffer(pixels, "<u2").reshape(height, width)


def acquire(dev: tango.DeviceProxy, seconds: float = 0.0) -> int:
    """Acquire and wait for the frame; its FrameNumber."""
    number = dev.FrameNumber + 1
    dev.Acquire(seconds)
    wait_until(lambda: dev.FrameNumber == number, 10, f"frame {number}")
    return number


def timed(call: object) -> tuple[str, float]:
    """Call; the DevFailed reason ("" if none) and the seconds it took."""
    start = time.monotonic()
    try:
        assert callable(call)
        call()
    except tango.DevFailed as exc:
        return str(exc.args[0].reason), time.monotonic() - start
    return "", time.monotonic() - start


def test_acquire_gives_the_pcs_frame_pixel_exact(sim: Simulator, dev: tango.DeviceProxy) -> None:
    assert dev.Binning == 1
    start = time.monotonic()
    dev.Acquire(0.3)
    assert time.monotonic() - start < 0.5  # returns at once
    assert dev.State() == DevState.RUNNING
    assert "Acquire 0.3 s, binning 1: " in dev.Status()
    acquire_number = dev.FrameNumber + 1
    wait_until(lambda: dev.FrameNumber == acquire_number, 10, "the frame")
    wait_until(lambda: dev.State() == DevState.ON, 5, "ON once the frame is in")
    frame = dev.Frame
    assert (dev.FrameWidth, dev.FrameHeight, frame.shape, frame.dtype) == (
        1242,
        1152,
        (1152, 1242),
        np.uint16,
    )
    assert np.array_equal(frame, expected(sim, 1242, 1152))
    assert (dev.Progress, dev.DetectorState, dev.ExposureTime) == (100.0, DetectorState.IDLE, 0.3)


def test_binning_2(sim: Simulator, dev: tango.DeviceProxy) -> None:
    dev.Binning = 2
    acquire(dev)
    assert (dev.FrameWidth, dev.FrameHeight) == (621, 576)
    assert np.array_equal(dev.Frame, expected(sim, 621, 576))
    for bad in (0, 3, -1):
        with pytest.raises(tango.DevFailed):
            dev.Binning = bad
    assert dev.Binning == 2


def test_expose_then_read_frame(sim: Simulator, dev: tango.DeviceProxy) -> None:
    number = dev.FrameNumber
    dev.ExposureTime = 0.05
    dev.Expose(-1)  # negative: the ExposureTime attribute
    wait_until(lambda: dev.State() == DevState.ON, 5, "the exposure and readout done")
    assert (dev.FrameNumber, dev.Progress, sim.detector.frames_taken) == (number, 100.0, 1)
    dev.ReadFrame()
    wait_until(lambda: dev.FrameNumber == number + 1, 5, "the frame read")
    assert np.array_equal(dev.Frame, expected(sim, 1242, 1152))


def test_abort_during_exposure(sim: Simulator, dev: tango.DeviceProxy) -> None:
    number = dev.FrameNumber
    dev.Acquire(60)
    wait_until(lambda: "exposing" in dev.Status(), 5, "exposing")
    assert dev.DetectorState == DetectorState.EXPOSING
    why, took = timed(dev.Abort)
    assert (why, took < 1) == ("", True)
    assert dev.DetectorState == DetectorState.IDLE
    assert sim.detector.state == "IDLE"
    wait_until(lambda: dev.State() == DevState.ON, 5, "ON after Abort")
    assert (dev.FrameNumber, dev.Progress) == (number, 0.0)
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")  # the connection is usable


def test_abort_during_transfer(sim: Simulator, dev: tango.DeviceProxy) -> None:
    dev.Binning = 2
    number = acquire(dev)
    sim.set_faults(["trickle"])  # the frame now comes one byte per send(): seconds
    dev.ReadFrame()
    wait_until(lambda: TRANSFER.search(dev.Status()), 5, "transferring")
    assert dev.State() == DevState.RUNNING
    why, took = timed(dev.Abort)
    assert (why, took < 0.5) == ("", True)  # nothing for the PC to stop: at once
    assert dev.DetectorState == DetectorState.IDLE
    assert "aborted: dropping the frame still arriving" in dev.Status()
    wait_until(lambda: dev.State() == DevState.ON, 30, "the transfer over")
    sim.set_faults([])
    assert dev.FrameNumber == number  # the frame was dropped
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")


def test_progress_and_status_follow_a_slow_transfer(sim: Simulator, dev: tango.DeviceProxy) -> None:
    dev.Binning = 2
    number = acquire(dev)
    sim.set_faults(["slow"])  # 1460 bytes per 2 ms: the binned frame takes about a second
    dev.ReadFrame()
    seen: list[tuple[float, str]] = []

    def midway() -> bool:
        progress, status = dev.Progress, dev.Status()
        seen.append((progress, status))
        return 0 < progress < 100 and READING.search(status) is not None

    wait_until(midway, 10, "Progress and Status midway through the frame")
    wait_until(lambda: dev.FrameNumber == number + 1, 20, "the frame in")
    assert dev.Progress == 100.0
    progresses = [p for p, _ in seen]
    assert progresses == sorted(progresses)  # it only moves forward


def test_save_frame_kcd_and_npy(sim: Simulator, dev: tango.DeviceProxy, pc: PC) -> None:
    folder = pc[2].resolve()
    acquire(dev)
    (folder / "run").mkdir(exist_ok=True)
    name = f"run/frame_{sim.protocol}.kcd"
    written = dev.SaveFrame(name)
    assert written == str(folder / name)
    image = fabio.open(written).data  # fabio widens the pixels: compare values
    assert np.array_equal(image, expected(sim, 1242, 1152))
    npy = dev.SaveFrame(str(folder / "frame.npy"))  # an absolute name inside DataFolder
    assert np.array_equal(np.load(npy), dev.Frame)


def test_save_frame_refusals(sim: Simulator, dev: tango.DeviceProxy, pc: PC) -> None:
    folder = pc[2]
    acquire(dev)
    dev.SaveFrame("taken.npy")
    outside = folder.parent / f"outside{sim.protocol}"
    outside.mkdir(exist_ok=True)
    (folder / "escape").unlink(missing_ok=True)
    (folder / "escape").symlink_to(outside)
    for name in ("../x.kcd", str(outside / "x.kcd"), "escape/x.kcd", "taken.npy", "x.tif", ""):
        with pytest.raises(tango.DevFailed) as exc:
            dev.SaveFrame(name)
        assert reason(exc) == "CCDPC_BadArgument", name
    assert not list(outside.iterdir())


def test_frame_number_event_for_each_frame(dev: tango.DeviceProxy) -> None:
    numbers: queue.Queue[int] = queue.Queue()

    def push(event: tango.EventData) -> None:
        if not event.err:
            numbers.put(event.attr_value.value)

    first = dev.FrameNumber
    event_id = dev.subscribe_event("FrameNumber", tango.EventType.CHANGE_EVENT, push)
    try:
        assert numbers.get(timeout=5) == first  # the value at subscription
        for _ in range(2):
            number = acquire(dev)
            assert numbers.get(timeout=5) == number
    finally:
        dev.unsubscribe_event(event_id)


def test_one_operation_at_a_time(dev: tango.DeviceProxy) -> None:
    dev.Acquire(60)
    try:
        for call in (lambda: dev.Acquire(0), lambda: dev.Expose(0), dev.ReadFrame):
            assert timed(call)[0] == "CCDPC_Busy"
    finally:
        dev.Abort()
    for bad in (3601.0, float("nan")):
        assert timed(lambda bad=bad: dev.Expose(bad))[0] == "CCDPC_BadArgument"
