"""The saving of a series without Tango: options and their refusals, the writers (files complete
or absent, HDF5 valid after a crash), and the bounded buffer before a slow or failing writer."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest

import ccdpc
from tango_server.saving import Format, SavingError, SavingOptions, SeriesBuffer, open_writer
from tango_server.saving.writers import FileWriter, Hdf5Writer

W, H = 31, 17


def frame(n: int) -> ccdpc.Frame:
    pixels = (np.arange(W * H, dtype="<u2") * (n + 1)).tobytes()
    return ccdpc.Frame.from_buffer(bytearray(pixels), W, H, binning=2, exposure=0.5)


def options(fmt: str = "HDF5", directory: str = "run") -> SavingOptions:
    chosen = SavingOptions()
    chosen.set_format(fmt)
    chosen.directory = directory
    return chosen


def test_options_refuse_what_leads_outside_or_is_unknown(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (tmp_path / "data").mkdir()
    outside.mkdir()
    (tmp_path / "data" / "escape").symlink_to(outside)
    chosen = SavingOptions()
    for directory in ("..", "../outside", str(outside), "escape", "escape/deeper"):
        with pytest.raises(ValueError, match="outside DataFolder"):
            chosen.set_directory(directory, tmp_path / "data")
    chosen.set_directory(str(tmp_path / "data" / "sub"), tmp_path / "data")  # absolute, inside
    for prefix in ("a/b", "a\\b", "..", "x\0"):
        with pytest.raises(ValueError, match="SavingPrefix"):
            chosen.set_prefix(prefix)
    for setter, text in ((chosen.set_format, "TIFF"), (chosen.set_mode, "AUTO"),
                         (chosen.set_policy, "")):  # fmt: skip
        with pytest.raises(ValueError, match="must be one of"):
            setter(text)
    with pytest.raises(ValueError):
        chosen.set_next_number(-1)
    chosen.set_mode(" auto_frame ")
    assert chosen.mode.value == "AUTO_FRAME"


def test_plan_names_the_files_and_abort_checks_them_all_first(tmp_path: Path) -> None:
    chosen = options("KCD")
    chosen.set_next_number(98)
    plan = chosen.plan(3, tmp_path)
    assert [p.name for p in plan.files] == ["frame_0098.kcd", "frame_0099.kcd", "frame_0100.kcd"]
    assert plan.folder == (tmp_path / "run").resolve() and plan.folder.is_dir()
    (plan.folder / "frame_0100.kcd").write_bytes(b"")
    with pytest.raises(SavingError, match=r"frame_0100\.kcd"):
        chosen.plan(3, tmp_path)
    chosen.set_policy("overwrite")
    assert chosen.plan(3, tmp_path).overwrite
    assert len(options("HDF5").plan(1000, tmp_path).files) == 1
    (tmp_path / "run2").write_bytes(b"")
    with pytest.raises(SavingError):
        options("NPY", "run2").plan(1, tmp_path)


def test_file_writer_renames_complete_files_and_never_replaces_under_abort(
    tmp_path: Path,
) -> None:
    plan = options("NPY").plan(2, tmp_path)
    writer = FileWriter(plan)
    writer.write(0, frame(0), 20.0)
    assert writer.flush() == plan.files[0]
    assert np.array_equal(np.load(plan.files[0]), frame(0).pixels)
    plan.files[1].write_bytes(b"someone else's")  # appeared after the plan was checked
    with pytest.raises(SavingError, match="appeared meanwhile"):
        writer.write(1, frame(1), 20.0)
    assert plan.files[1].read_bytes() == b"someone else's"
    assert sorted(p.name for p in plan.folder.iterdir()) == ["frame_0000.npy", "frame_0001.npy"]


def test_hdf5_writer_nexus_layout_and_count_after_each_frame(tmp_path: Path) -> None:
    plan = options().plan(3, tmp_path)
    writer = open_writer(plan)
    assert isinstance(writer, Hdf5Writer)
    for i in range(3):
        writer.write(i, frame(i), -60.0 + i)
        writer.flush()
        with h5py.File(plan.files[0], "r", locking=False) as f:  # readable while written
            assert f["entry/instrument/detector/data"].shape == (i + 1, H, W)
    writer.close()
    with h5py.File(plan.files[0], "r") as f:
        det = f["entry/instrument/detector"]
        assert [det[name].attrs["units"] for name in ("count_time", "temperature")] == ["s", "degC"]
        assert list(det["temperature"]) == [-60.0, -59.0, -58.0]
        assert list(det["count_time"]) == [0.5] * 3
        assert f["entry/data"].attrs["signal"] == "data"
        for i in range(3):
            assert np.array_equal(det["data"][i], frame(i).pixels)
    with pytest.raises(SavingError, match="exists"):
        open_writer(plan)


def _write_then_die(path: str) -> None:
    writer = Hdf5Writer(Path(path), overwrite=False)
    for i in range(2):
        writer.write(i, frame(i), 0.0)
        writer.flush()
    writer.write(2, frame(2), 0.0)  # written, not flushed: not counted
    os._exit(3)  # a crash: no close, no flush beyond the writer's own


def test_hdf5_file_valid_after_the_writer_crashes(tmp_path: Path) -> None:
    path = tmp_path / "crash.h5"
    child = multiprocessing.get_context("fork").Process(target=_write_then_die, args=(str(path),))
    child.start()
    child.join(30)
    assert child.exitcode == 3
    with h5py.File(path, "r") as f:
        data = f["entry/instrument/detector/data"]
        assert data.shape == (2, H, W)
        assert np.array_equal(data[1], frame(1).pixels)


class GatedWriter:
    """Writes when let through: a slow disk on demand; fails at `fail_at`."""

    def __init__(self, fail_at: int = -1) -> None:
        self.gate = threading.Semaphore(0)
        self.written: list[int] = []
        self.closed = False
        self.fail_at = fail_at

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> None:
        assert self.gate.acquire(timeout=10)
        if index == self.fail_at:
            raise OSError(28, "No space left on device")
        self.written.append(index)

    def flush(self) -> Path:
        return Path(f"/f{self.written[-1]}")

    def close(self) -> None:
        self.closed = True


def test_a_slow_writer_fills_the_buffer_and_loses_nothing() -> None:
    writer = GatedWriter()
    buffer = SeriesBuffer(3, writer)
    for i in range(3):
        assert buffer.wait_room(0)
        buffer.put(i, frame(i))
    assert buffer.full() and not buffer.wait_room(0.05)
    with pytest.raises(RuntimeError, match="full"):
        buffer.put(3, frame(3))
    for _ in range(3):  # the writer took the three frames at once: one flush for them
        writer.gate.release()
    assert buffer.wait_room(5)
    assert buffer.saved == 2
    buffer.put(3, frame(3))
    assert np.array_equal(buffer.image(1).pixels, frame(1).pixels)  # written, still held
    writer.gate.release()
    assert buffer.finish(10)
    assert (writer.written, writer.closed, buffer.saved, buffer.last_file) == (
        [0, 1, 2, 3], True, 3, Path("/f3"),
    )  # fmt: skip
    with pytest.raises(LookupError, match="left the buffer"):
        buffer.image(0)
    with pytest.raises(LookupError, match="No frame 4"):
        buffer.image(4)


def test_a_failing_writer_stops_and_keeps_the_frames_unwritten() -> None:
    writer = GatedWriter(fail_at=1)
    buffer = SeriesBuffer(4, writer)
    for i in range(3):
        buffer.put(i, frame(i))
    for _ in range(2):
        writer.gate.release()
    assert buffer.finish(10)
    assert isinstance(buffer.error, OSError) and writer.closed
    assert (buffer.saved, buffer.acquired) == (0, 2)
    for i in (1, 2):  # not on disk: still readable
        assert np.array_equal(buffer.image(i).pixels, frame(i).pixels)
    assert buffer.wait_room(0)  # nobody waits forever for a writer that is gone


def test_without_a_writer_the_buffer_keeps_the_last_frames() -> None:
    buffer = SeriesBuffer(2, None)
    for i in range(5):
        assert not buffer.full()
        buffer.put(i, frame(i))
    assert (buffer.acquired, buffer.saved) == (4, -1)
    assert np.array_equal(buffer.image(4).pixels, frame(4).pixels)
    with pytest.raises(LookupError):
        buffer.image(2)
    assert buffer.finish(0) and buffer.closed
    assert Format.HDF5.suffix == ".h5"
