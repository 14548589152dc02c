"""The CCDPC 2D controller in a real Pool and MacroServer: ct, ascan, timescan and the HDF5
recorder, stop and abort, failed acquisitions, value references, and a PC that stalls or goes
away. Macros run through the Door; every wait follows the Door's or the device's state, bounded.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("sardana")

import fabio  # type: ignore[import-untyped]  # noqa: E402
import tango  # type: ignore[import-untyped]  # noqa: E402

from ccdpc import DetectorState  # noqa: E402
from ccdpc.sim import synthetic_frame  # noqa: E402
from tango_server.tools.embedded import wait_until  # noqa: E402
from tango_server.tools.sardana_stack import MacroFailed, MacroRun  # noqa: E402

from .conftest import SEED, Rig  # noqa: E402

FULL = (1152, 1242)
BINNED = (576, 621)


def expected(shape: tuple[int, int], number: int) -> np.ndarray[Any, Any]:
    """Frame `number` of the simulator, as the device and the scan file must hold it."""
    rows, cols = shape
    return np.frombuffer(synthetic_frame(cols, rows, SEED, number), "<u2").reshape(shape)


def scan_data(path: Path, run: MacroRun, channel: str) -> Any:
    """The channel's dataset of the scan `run` recorded in the HDF5 file at `path`."""
    match = re.search(r"Scan #(\d+) started", run.output)
    assert match, run.output
    with h5py.File(path, "r") as f:
        return f[f"entry{match[1]}/measurement/{channel}"][()]


def start_long(rig: Rig, seconds: float = 5.0) -> MacroRun:
    """A `ct` of `seconds`, started; returns once the device exposes."""
    run = rig.stack.door.start("ct", f"{seconds:g}")
    wait_until(lambda: rig.device.State() == tango.DevState.RUNNING, 10, "device RUNNING")
    return run


def assert_failed(rig: Rig, done: MacroRun, why: str) -> None:
    """The macro failed (Sardana: the measurement group ended in Fault), its output shows the
    channel's Status with the controller's reason in the device's words, and so does the Pool's
    log."""
    assert done.state == tango.DevState.ALARM, done.output
    assert "Measurement group ended acquisition with Fault state" in done.errors, done.errors
    reason = re.compile(re.escape(f"{rig.device.name()}: no frame: ") + why)
    assert reason.search(done.output), done.output
    assert reason.search(rig.stack.servers[0].log_path.read_text(encoding="utf-8"))
    # Sardana's software synchronisation runs the whole integration time even when the
    # channel has failed: the measurement group is ready again after it (ALARM if the device
    # still says that its last acquisition failed).
    group = rig.stack.element(rig.stack.measurement_group)
    ready = (tango.DevState.ON, tango.DevState.ALARM)
    wait_until(lambda: group.State() in ready, 10, "measurement group ready")
    assert "Last acquisition: no frame: " in rig.channel.Status()


def ct_gives_a_new_frame(rig: Rig, shape: tuple[int, int] = FULL) -> None:
    before = rig.device.FrameNumber
    rig.stack.door.run("ct", "0.1", timeout=30)
    assert rig.device.FrameNumber == before + 1
    value = rig.channel.Value
    assert value.shape == shape
    assert np.array_equal(value, rig.device.Frame)
    assert np.array_equal(value, expected(shape, rig.sim.detector.frames_taken))


@pytest.mark.parametrize(("binning", "shape"), [(2, BINNED), (1, FULL)])
def test_ct(rig: Rig, binning: int, shape: tuple[int, int]) -> None:
    rig.channel.Binning = binning
    assert rig.device.Binning == binning
    assert tuple(rig.channel.Shape) == shape
    ct_gives_a_new_frame(rig, shape)


def test_ascan_hdf5(rig: Rig) -> None:
    first = rig.sim.detector.frames_taken + 1
    run = rig.stack.door.run("ascan", rig.stack.motor, "0", "1", "2", "0.1", timeout=60)
    data = scan_data(rig.stack.scan_file, run, rig.stack.channel)
    assert data.shape == (3, *FULL)
    for point in range(3):
        assert np.array_equal(data[point], expected(FULL, first + point)), point


def test_timescan_paces_itself(rig: Rig) -> None:
    first = rig.sim.detector.frames_taken + 1
    run = rig.stack.door.run("timescan", "2", "0.1", timeout=60)
    assert "Skipping trigger" not in run.output
    data = scan_data(rig.stack.scan_file, run, rig.stack.channel)
    assert len(data) >= 2
    assert not np.isnan(data).any()
    for point in range(len(data)):
        assert np.array_equal(data[point], expected(FULL, first + point)), point


def test_stop_during_ct(rig: Rig) -> None:
    run = start_long(rig)
    stopped = time.monotonic()
    rig.stack.door.stop()
    rig.stack.door.wait(run, 10, check=False)
    rig.device_on(10)
    took = time.monotonic() - stopped
    assert took <= 1.0, f"Door and device ON {took:.2f} s after the stop"
    ct_gives_a_new_frame(rig)


def test_abort_is_an_error_never_a_stale_frame(rig: Rig) -> None:
    run = start_long(rig)
    rig.stack.door.proxy.AbortMacro()
    rig.stack.door.wait(run, 10, check=False)
    rig.device_on(5)
    with pytest.raises(tango.DevFailed):
        rig.channel.Value  # noqa: B018 - the read is the test
    ct_gives_a_new_frame(rig)


def test_failed_acquisition_is_an_error(rig: Rig) -> None:
    run = start_long(rig, 2.0)
    rig.device.Command("ABORT")  # someone else stops the exposure: no frame comes
    with pytest.raises(MacroFailed) as failed:
        rig.stack.door.wait(run, 10)
    assert "no frame: acquisition ended without a frame" in str(failed.value)  # not only Fault
    assert_failed(rig, failed.value.run, "acquisition ended without a frame")
    with pytest.raises(tango.DevFailed):
        rig.channel.Value  # noqa: B018 - the read is the test
    ct_gives_a_new_frame(rig)


def test_value_references(rig: Rig) -> None:
    door = rig.stack.door
    (rig.folder / "refs").mkdir(exist_ok=True)  # SaveFrame makes no folders
    door.run("set_meas_conf", "ValueRefEnabled", "True")
    door.run("set_meas_conf", "ValueRefPattern", "refs/point_{index:02d}_{frame:05d}.kcd")
    try:
        first = rig.sim.detector.frames_taken + 1
        run = door.run("ascan", rig.stack.motor, "0", "1", "2", "0.1", timeout=60)
        refs = scan_data(rig.stack.scan_file, run, rig.stack.channel)
    finally:
        door.run("set_meas_conf", "ValueRefEnabled", "False")
    assert len(refs) == 3
    for point, ref in enumerate(refs):
        uri = ref.decode() if isinstance(ref, bytes) else str(ref)
        path = Path(uri.removeprefix("file://"))
        assert path == rig.folder / "refs" / f"point_{point:02d}_{first + point:05d}.kcd"
        with fabio.open(str(path)) as image:
            assert np.array_equal(image.data, expected(FULL, first + point)), uri


@pytest.mark.parametrize(
    ("failure", "why"),
    [
        ("stall", "acquisition failed: .* lost: timeout: No reply to 'STATUS' within 2 s"),
        ("gone", "acquisition failed: .* lost"),
    ],
    ids=["stall", "gone"],
)
def test_pc_fails_during_ct(rig: Rig, failure: str, why: str) -> None:
    run = start_long(rig, 2.0)
    if failure == "stall":
        rig.sim.set_faults(["stall-first"])  # the next command is never answered
    else:
        rig.sim.stop()
    try:
        done = rig.stack.door.wait(run, 30, check=False)
    finally:
        if failure == "stall":
            rig.sim.set_faults([])
        else:
            rig.sim.start()
    assert_failed(rig, done, why)
    assert all(server.running for server in rig.stack.servers)
    rig.stack.pool.ping()
    rig.device_ready(30)
    # The PC carried on with the exposure it was given: it takes the next once idle again.
    wait_until(lambda: rig.device.DetectorState == DetectorState.IDLE, 10, "the PC's detector IDLE")
    ct_gives_a_new_frame(rig)


def test_repetitions_are_a_series_or_refused(rig: Rig) -> None:
    series = "NbFrames" in rig.device.get_attribute_list()
    door = rig.stack.door
    first = rig.sim.detector.frames_taken + 1
    door.run("set_meas_conf", "Synchronization", "Start")  # one start, repetitions frames
    try:
        done = door.run("ascanct", rig.stack.motor, "0", "1", "2", "0.1", check=False)
    finally:
        door.run("set_meas_conf", "Synchronization", "Trigger")
    if series:  # the device takes NbFrames frames per Acquire
        assert done.state == tango.DevState.ON, done.errors
        data = scan_data(rig.stack.scan_file, done, rig.stack.channel)
        assert data.shape == (3, *FULL)
        for point in range(3):
            assert np.array_equal(data[point], expected(FULL, first + point)), point
    else:
        assert done.state == tango.DevState.ALARM
        assert "3 repetitions: this controller takes one frame per start" in done.errors
        assert "which takes no series (no NbFrames attribute)" in done.errors
    ct_gives_a_new_frame(rig)


def test_one_frame_per_start_whatever_nbframes(rig: Rig) -> None:
    if "NbFrames" not in rig.device.get_attribute_list():
        pytest.skip("this device takes no series (no NbFrames attribute)")
    rig.device.NbFrames = 3  # left so by another client of the device
    ct_gives_a_new_frame(rig)
    assert rig.device.NbFrames == 1
