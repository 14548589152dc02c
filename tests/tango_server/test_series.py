"""Acquisition series with automatic saving, through the device on every generation: every
format read back pixel-exact, LastImageAcquired/LastImageSaved and their events, ReadImage,
Abort mid-series, and the refusals of bad settings.

One simulator and one device server per generation, shared by the tests of this module; each
test sets the series settings it needs and leaves the device idle. Frames are binned (621 x 576)
and exposures 0 s: a series of a few frames takes well under a second.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import fabio  # type: ignore[import-untyped]
import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest
import silx.io  # type: ignore[import-untyped]
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator

from .conftest import wait_until
from .devices import H, W, binned_pixels, reason, saving_pc

PC = tuple[Simulator, tango.DeviceProxy, Path]


@pytest.fixture(scope="module", params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def pc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PC]:
    folder = tmp_path_factory.mktemp(f"series{request.param}").resolve()
    with saving_pc(request.param, folder) as (sim, dev):
        yield sim, dev, folder


@pytest.fixture
def sim(pc: PC) -> Simulator:
    return pc[0]


@pytest.fixture
def dev(pc: PC, request: pytest.FixtureRequest) -> Iterator[tango.DeviceProxy]:
    sim, dev, _ = pc
    dev.Binning = 2
    dev.LatencyTime = 0
    dev.SavingMode = "AUTO_FRAME"
    dev.SavingOverwritePolicy = "ABORT"
    dev.BufferFrames = 16
    dev.SavingDirectory = request.node.name.replace("[", "_").rstrip("]")
    dev.SavingPrefix = "frame_"
    dev.SavingNextNumber = 0
    yield dev
    sim.set_faults([])
    if dev.State() == DevState.RUNNING:
        dev.Abort()
    wait_until(lambda: dev.State() in (DevState.ON, DevState.ALARM), 10, "idle after the test")


def run(dev: tango.DeviceProxy, frames: int, timeout: float = 20) -> None:
    """A series of `frames` frames, waited for until its files are closed."""
    dev.NbFrames = frames
    dev.Acquire(0)
    wait_until(lambda: dev.State() != DevState.RUNNING, timeout, f"{frames} frames")


def test_hdf5_series_is_nexus_pixel_exact_with_events(
    sim: Simulator, dev: tango.DeviceProxy, pc: PC
) -> None:
    dev.SavingFormat = "hdf5"  # case-insensitive, Lima-style
    assert dev.SavingFormat == "HDF5"
    seen: dict[str, queue.Queue[int]] = {"lastimageacquired": queue.Queue()}
    seen["lastimagesaved"] = queue.Queue()

    def push(event: tango.EventData) -> None:
        if not event.err:
            seen[event.attr_value.name.lower()].put(event.attr_value.value)

    ids = [dev.subscribe_event(name, tango.EventType.CHANGE_EVENT, push) for name in seen]
    try:
        first, number = sim.detector.frames_taken, dev.FrameNumber
        run(dev, 5)
        assert dev.State() == DevState.ON, dev.Status()
        assert (dev.LastImageAcquired, dev.LastImageSaved) == (4, 4)
        assert dev.FrameNumber == number + 5  # FrameNumber counts every frame
        for name, values in seen.items():  # the last value pushed is the last frame
            got = [values.get(timeout=5)]
            while got[-1] != 4:
                got.append(values.get(timeout=5))
            assert got == sorted(got), (name, got)
    finally:
        for event_id in ids:
            dev.unsubscribe_event(event_id)
    path = pc[2] / dev.SavingDirectory / "frame_0000.h5"
    assert dev.LastSavedFile == str(path)
    assert dev.SavingNextNumber == 1
    with h5py.File(path, "r") as f:
        assert f["entry"].attrs["NX_class"] == "NXentry"
        det = f["entry/instrument/detector"]
        assert det.attrs["NX_class"] == "NXdetector"
        data = det["data"]
        assert (data.shape, data.dtype, data.chunks) == ((5, H, W), np.uint16, (1, H, W))
        for i in range(5):
            assert np.array_equal(data[i], binned_pixels(sim, first + 1 + i)), i
        assert list(det["binning"][:, 0]) == [2] * 5
        assert det["timestamp"].shape == det["count_time"].shape == (5,)
        assert np.array_equal(f["entry/data/data"][4], data[4])
    image = fabio.open(str(path))  # fabio reads the NeXus file too
    assert image.nframes == 5
    assert np.array_equal(image.getframe(3).data, binned_pixels(sim, first + 4))
    with silx.io.open(str(path)) as nexus:  # and silx, by its NXdata
        assert np.array_equal(nexus["entry/data/data"][2], binned_pixels(sim, first + 3))


@pytest.mark.parametrize("fmt", ["KCD", "NPY"])
def test_file_per_frame_formats(sim: Simulator, dev: tango.DeviceProxy, pc: PC, fmt: str) -> None:
    dev.SavingFormat = fmt
    dev.SavingNextNumber = 7
    first = sim.detector.frames_taken
    run(dev, 3)
    assert (dev.State(), dev.LastImageSaved) == (DevState.ON, 2)
    folder = pc[2] / dev.SavingDirectory
    names = [f"frame_{7 + i:04d}.{fmt.lower()}" for i in range(3)]
    assert sorted(p.name for p in folder.iterdir()) == names  # no temporary file left
    assert dev.LastSavedFile == str(folder / names[-1])
    assert dev.SavingNextNumber == 10
    for i, name in enumerate(names):
        path = str(folder / name)
        image = fabio.open(path).data if fmt == "KCD" else np.load(path)
        assert np.array_equal(image, binned_pixels(sim, first + 1 + i)), name


def test_read_image_while_in_the_buffer(sim: Simulator, dev: tango.DeviceProxy) -> None:
    dev.SavingMode = "manual"
    dev.BufferFrames = 2
    first = sim.detector.frames_taken
    run(dev, 4)
    assert (dev.LastImageAcquired, dev.LastImageSaved, dev.LastSavedFile) == (3, -1, "")
    for index in (2, 3):
        image = dev.ReadImage(index).reshape(dev.FrameHeight, dev.FrameWidth)
        assert np.array_equal(image, binned_pixels(sim, first + 1 + index))
    for index in (1, 4, -1):
        with pytest.raises(tango.DevFailed) as exc:
            dev.ReadImage(index)
        assert reason(exc) == "CCDPC_NoFrame"
    assert "left the buffer" in str(_failure(lambda: dev.ReadImage(0)))


def _failure(call: object) -> str:
    try:
        assert callable(call)
        call()
    except tango.DevFailed as exc:
        return str(exc.args[0].desc)
    raise AssertionError("no DevFailed")


def test_abort_mid_series_saves_what_was_taken(
    sim: Simulator, dev: tango.DeviceProxy, pc: PC
) -> None:
    dev.SavingFormat = "HDF5"
    dev.LatencyTime = 0.05
    first = sim.detector.frames_taken
    dev.NbFrames = 1000
    dev.Acquire(0)
    wait_until(lambda: dev.LastImageAcquired >= 2, 20, "three frames")
    assert dev.State() == DevState.RUNNING
    with pytest.raises(tango.DevFailed) as exc:
        dev.Expose(0)  # one operation at a time
    assert reason(exc) == "CCDPC_Busy"
    dev.Abort()
    wait_until(lambda: dev.State() != DevState.RUNNING, 10, "the series over")
    assert dev.State() == DevState.ON, dev.Status()
    saved = dev.LastImageSaved
    assert saved == dev.LastImageAcquired >= 2
    with h5py.File(pc[2] / dev.SavingDirectory / "frame_0000.h5", "r") as f:
        data = f["entry/instrument/detector/data"]
        assert data.shape == (saved + 1, H, W)
        assert np.array_equal(data[saved], binned_pixels(sim, first + 1 + saved))


def test_bad_settings_are_refused(dev: tango.DeviceProxy, pc: PC) -> None:
    folder = pc[2]
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir(exist_ok=True)
    (folder / "escape").unlink(missing_ok=True)
    (folder / "escape").symlink_to(outside)
    bad = [
        ("NbFrames", 0), ("NbFrames", -1), ("NbFrames", 100_001),
        ("LatencyTime", -1.0), ("LatencyTime", float("nan")),
        ("SavingFormat", "TIFF"), ("SavingMode", "AUTO_SERIES"),
        ("SavingOverwritePolicy", "APPEND"), ("SavingPrefix", "a/b"),
        ("SavingDirectory", "../x"), ("SavingDirectory", str(outside)),
        ("SavingDirectory", "escape"), ("BufferFrames", 0),
    ]  # fmt: skip
    for name, value in bad:
        before = dev.read_attribute(name).value
        with pytest.raises(tango.DevFailed) as exc:
            dev.write_attribute(name, value)
        # Tango's own range check answers for the attributes with min/max values.
        assert reason(exc) in ("CCDPC_BadArgument", "API_WAttrOutsideLimit"), (name, value)
        assert dev.read_attribute(name).value == before, (name, value)
    assert not list(outside.iterdir())


def test_abort_policy_refuses_before_the_first_exposure(
    sim: Simulator, dev: tango.DeviceProxy, pc: PC
) -> None:
    dev.SavingFormat = "KCD"
    folder = pc[2] / dev.SavingDirectory
    folder.mkdir(exist_ok=True)
    (folder / "frame_0002.kcd").write_bytes(b"keep")
    taken, number = sim.detector.frames_taken, dev.FrameNumber
    dev.NbFrames = 3
    with pytest.raises(tango.DevFailed) as exc:
        dev.Acquire(0)
    assert reason(exc) == "CCDPC_SavingError"
    assert "frame_0002.kcd" in exc.value.args[0].desc
    assert (sim.detector.frames_taken, dev.FrameNumber) == (taken, number)
    assert sorted(p.name for p in folder.iterdir()) == ["frame_0002.kcd"]
    dev.SavingOverwritePolicy = "OVERWRITE"
    run(dev, 3)
    assert fabio.open(str(folder / "frame_0002.kcd")).data.shape == (H, W)


def test_the_next_acquire_on_the_last_frames_event_is_taken(dev: tango.DeviceProxy) -> None:
    """A client (a Sardana scan, a script) starts the next series as soon as FrameNumber says the
    last frame is in, while the device still closes that series' file: Acquire waits for it."""
    dev.SavingFormat = "HDF5"
    dev.NbFrames = 1
    numbers: queue.Queue[int] = queue.Queue()

    def on_event(event: tango.EventData) -> None:
        if not event.err and event.attr_value is not None:
            numbers.put(int(event.attr_value.value))

    event_id = dev.subscribe_event("FrameNumber", tango.EventType.CHANGE_EVENT, on_event)
    try:
        start = numbers.get(timeout=5)  # the value at subscription
        for count in range(1, 11):
            dev.Acquire(0)  # refused (CCDPC_Busy) if the previous series were still closing
            while (number := numbers.get(timeout=10)) < start + count:
                pass
            assert number == start + count
    finally:
        dev.unsubscribe_event(event_id)
    wait_until(lambda: dev.State() != DevState.RUNNING, 10, "the last series over")
    assert dev.State() == DevState.ON, dev.Status()
    assert dev.SavingNextNumber == 10
