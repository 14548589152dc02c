"""Series saving when things fail: the disk full (RLIMIT_FSIZE set in the server process), the
disk hung (a write that blocks), the folder replaced by a file mid-series, a generation 3 session
dropped again and again.

Whatever fails, the series stops with State ALARM and the reason, LastImageSaved says exactly what
is on disk, no partial file is left under a final name, the frames not written stay readable with
ReadImage, and the server answers on. A device server per test: the file size limit is its own.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import stat
from collections.abc import Iterator
from pathlib import Path

import fabio  # type: ignore[import-untyped]
import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator
from tango_server.tools.testing import server_process

from .conftest import wait_until
from .devices import H, W, binned_pixels, saving_pc


@contextlib.contextmanager
def pc(
    tmp_path: Path, protocol: int, fmt: str, **sim_options: object
) -> Iterator[tuple[Simulator, tango.DeviceProxy, Path]]:
    """A simulator and a device saving binned frames in `fmt` under `tmp_path`/run."""
    folder = tmp_path.resolve()
    with saving_pc(protocol, folder, 10, **sim_options) as (sim, dev):
        dev.Binning = 2
        dev.SavingMode = "AUTO_FRAME"
        dev.SavingFormat = fmt
        dev.SavingDirectory = "run"
        yield sim, dev, folder / "run"


def stopped_in_alarm(dev: tango.DeviceProxy) -> str:
    wait_until(lambda: dev.State() != DevState.RUNNING, 20, "the series stopped")
    assert dev.State() == DevState.ALARM, dev.Status()
    status = str(dev.Status())
    assert "Series stopped: saving failed" in status
    return status


def test_disk_full_hdf5_keeps_a_valid_file_with_the_frames_saved(tmp_path: Path) -> None:
    with pc(tmp_path, 2, "HDF5") as (sim, dev, folder):
        server = server_process(dev)
        first = sim.detector.frames_taken
        limit = 1_500_000  # about two uncompressed binned frames; 40 never fit
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        dev.NbFrames = 40
        dev.Acquire(0)
        status = stopped_in_alarm(dev)
        saved, acquired = dev.LastImageSaved, dev.LastImageAcquired
        assert 0 <= saved < acquired < 40, status
        with h5py.File(folder / "frame_0000.h5", "r") as f:  # valid, its count exact
            data = f["entry/instrument/detector/data"]
            assert data.shape[0] == saved + 1
            for i in range(saved + 1):
                assert np.array_equal(data[i], binned_pixels(sim, first + 1 + i)), i
            assert f["entry/instrument/detector/timestamp"].shape == (saved + 1,)
        unsaved = dev.ReadImage(saved + 1).reshape(H, W)  # still in the buffer
        assert np.array_equal(unsaved, binned_pixels(sim, first + 2 + saved))
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (-1, -1))
        assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")  # the server answers on


def test_disk_full_per_frame_leaves_no_partial_file(tmp_path: Path) -> None:
    with pc(tmp_path, 1, "NPY") as (sim, dev, folder):
        server = server_process(dev)
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (500_000, resource.RLIM_INFINITY))
        first = sim.detector.frames_taken
        dev.NbFrames = 5
        dev.Acquire(0)
        stopped_in_alarm(dev)
        assert (dev.LastImageSaved, dev.LastSavedFile) == (-1, "")
        assert list(folder.iterdir()) == []  # the temporary file is gone too
        assert np.array_equal(dev.ReadImage(0).reshape(H, W), binned_pixels(sim, first + 1))
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (-1, -1))
        dev.SavingDirectory = "again"
        dev.NbFrames = 2
        dev.Acquire(0)  # the next series starts afresh, out of ALARM
        wait_until(lambda: dev.LastImageSaved == 1, 10, "two frames saved")
        wait_until(lambda: dev.State() == DevState.ON, 10, "ON")


def test_a_hung_disk_holds_the_series_and_says_so(tmp_path: Path) -> None:
    """A write that blocks (a stalled NFS server, say): the buffer fills, the series waits for
    room with State RUNNING and the reason in Status, and takes no frame it cannot hold; once the
    disk answers, every frame is saved, in order, nothing lost."""
    with pc(tmp_path, 2, "NPY") as (sim, dev, folder):
        folder.mkdir()
        # The writer writes frame 1 under this hidden name first; opening a FIFO to write blocks
        # until someone opens it to read.
        hung = folder / f".frame_0001.npy.{server_process(dev).pid}.part"
        os.mkfifo(hung)
        first = sim.detector.frames_taken
        dev.BufferFrames = 2
        dev.NbFrames = 6
        dev.Acquire(0)
        try:
            wait_until(lambda: "buffer full" in dev.Status(), 20, "the buffer full")
            assert dev.State() == DevState.RUNNING
            status = str(dev.Status())
            assert "waiting for the writer, buffer full." in status, status
            assert "The writer is behind: buffer full (2 frames)." in status, status
            assert dev.LastImageSaved == 0
            acquired = dev.LastImageAcquired
            assert 1 <= acquired <= 2, status  # frame 1 (being written) and at most one more
            assert sim.detector.frames_taken == first + acquired + 1  # none taken to drop
            with open(hung, "rb") as disk:  # the disk answers
                written = disk.read()
        finally:  # a failure above must not leave the server's writer hung
            with contextlib.suppress(OSError):
                os.close(os.open(hung, os.O_RDONLY | os.O_NONBLOCK))
        assert np.array_equal(np.load(io.BytesIO(written)), binned_pixels(sim, first + 2))
        wait_until(lambda: dev.State() != DevState.RUNNING, 20, "the series over")
        assert dev.State() == DevState.ON, dev.Status()
        assert (dev.LastImageAcquired, dev.LastImageSaved) == (5, 5)
        assert sim.detector.frames_taken == first + 6
        files = sorted(p.name for p in folder.iterdir())
        assert files == [f"frame_{i:04d}.npy" for i in range(6)]
        assert stat.S_ISFIFO((folder / "frame_0001.npy").stat().st_mode)  # its bytes read above
        for i in (0, 2, 3, 4, 5):
            pixels = np.load(folder / f"frame_{i:04d}.npy")
            assert np.array_equal(pixels, binned_pixels(sim, first + 1 + i)), i


@pytest.mark.parametrize("protocol", [1, 2, 3])
def test_folder_replaced_by_a_file_mid_series(tmp_path: Path, protocol: int) -> None:
    with pc(tmp_path, protocol, "KCD") as (sim, dev, folder):
        first = sim.detector.frames_taken
        dev.NbFrames = 1000
        dev.LatencyTime = 0.02
        dev.Acquire(0)
        wait_until(lambda: dev.LastImageSaved >= 1, 10, "two frames saved")
        moved = folder.with_name("moved")
        folder.rename(moved)
        folder.write_bytes(b"not a folder")
        stopped_in_alarm(dev)
        saved = dev.LastImageSaved
        files = sorted(p.name for p in moved.iterdir())
        assert files == [f"frame_{i:04d}.kcd" for i in range(saved + 1)]  # nothing partial
        for i, name in enumerate(files):
            assert np.array_equal(
                fabio.open(str(moved / name)).data, binned_pixels(sim, first + 1 + i)
            )
        assert dev.LastImageAcquired > saved
        unsaved = dev.ReadImage(saved + 1).reshape(H, W)
        assert np.array_equal(unsaved, binned_pixels(sim, first + 2 + saved))


def test_gen3_dropped_sessions_every_frame_once_in_order(tmp_path: Path) -> None:
    size = W * H * 2
    # Cut each connection once past a frame and a half: frames cross connections at random
    # places, and every one must arrive once, whole, in order.
    with pc(tmp_path, 3, "HDF5", faults=["drop-session"], drop_after=size * 3 // 2) as (
        sim,
        dev,
        folder,
    ):
        first = sim.detector.frames_taken
        dev.NbFrames = 6
        dev.Acquire(0)
        wait_until(lambda: dev.State() != DevState.RUNNING, 60, "the series over the drops")
        assert dev.State() == DevState.ON, dev.Status()
        assert dev.Reconnects >= 2
        assert (dev.LastImageAcquired, dev.LastImageSaved) == (5, 5)
        assert sim.detector.frames_taken == first + 6  # no frame taken twice
        with h5py.File(folder / "frame_0000.h5", "r") as f:
            data = f["entry/instrument/detector/data"]
            assert data.shape == (6, H, W)
            for i in range(6):
                assert data[i].tobytes() == binned_pixels(sim, first + 1 + i).tobytes(), i
