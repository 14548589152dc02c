"""Frames of a series to files, complete or not at all. No tango import; h5py only for HDF5.

`FileWriter` writes each frame to its own ``.kcd`` or ``.npy`` file: under a hidden temporary
name first, then renamed, so a reader (or a crash) never meets half a file; under the ABORT policy
the rename does not replace a file that appeared meanwhile. `Hdf5Writer` writes one NeXus file per
series (NXentry/NXinstrument/NXdetector, `data` (N, H, W) uint16, one frame per chunk, with
bitshuffle+LZ4 when hdf5plugin is installed) and grows every per-frame dataset together, flushing
after each frame, so the frame count in the file is always that of the frames fully written.
After a failed write it shrinks back to them before closing.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Protocol

import ccdpc
from ccdpc.files import write_kcd, write_npy

from .options import Format, Plan, SavingError

__all__ = ["FileWriter", "FrameWriter", "Hdf5Writer", "compression", "open_writer"]

#: Bytes claimed beyond a frame's for the metadata HDF5 writes with it (chunk index, sizes).
_METADATA_ROOM = 256 * 1024


class FrameWriter(Protocol):
    """Writes the frames of one series, in order, and closes."""

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> Path:
        """Write frame `index`; return the file now complete with it."""

    def close(self) -> None:
        """Finish: every file is complete and closed (also after a failed `write`)."""


def open_writer(plan: Plan) -> FrameWriter:
    """The writer for `plan`'s format."""
    if plan.format is Format.HDF5:
        return Hdf5Writer(plan.files[0], plan.overwrite)
    return FileWriter(plan)


class FileWriter:
    """One ``.kcd`` or ``.npy`` file per frame (see the module doc)."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._write = write_kcd if plan.format is Format.KCD else write_npy

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> Path:
        target = self._plan.file_of(index)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            self._write(frame, temporary)
            if self._plan.overwrite:
                os.replace(temporary, target)
            else:
                os.link(temporary, target)  # unlike rename, refuses to replace a file
                os.unlink(temporary)
        except FileExistsError:
            _discard(temporary)
            raise SavingError(f"{str(target)!r} appeared meanwhile (policy ABORT)") from None
        except OSError:
            _discard(temporary)
            raise
        return target

    def close(self) -> None:
        """Nothing stays open between frames."""


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):  # the folder itself may be gone: nothing to remove then
        os.unlink(path)


def compression() -> dict[str, Any]:
    """The h5py dataset options for bitshuffle+LZ4 if hdf5plugin is installed, else none."""
    try:
        import hdf5plugin  # noqa: PLC0415 - optional, and slow to import
    except ImportError:
        return {}
    return dict(hdf5plugin.Bitshuffle(cname="lz4"))


class Hdf5Writer:
    """One NeXus HDF5 file per series (see the module doc)."""

    def __init__(self, path: Path, overwrite: bool) -> None:
        try:
            import h5py  # type: ignore[import-untyped]  # noqa: PLC0415 - optional, slow
        except ImportError:
            raise SavingError("SavingFormat HDF5 needs h5py (pip install ccdpc[hdf5])") from None
        self.path = path
        self._h5py = h5py
        try:
            # No lock: a live viewer in another process may read what each flush left.
            self._file = h5py.File(path, "w" if overwrite else "w-", locking=False)
        except FileExistsError:
            raise SavingError(f"{str(path)!r} exists (policy ABORT)") from None
        self._count = 0
        self._frame_bytes = 0
        self._data: Any = None
        self._per_frame: dict[str, Any] = {}

    def _layout(self, frame: ccdpc.Frame) -> None:
        """The groups and datasets, made with the first frame (its size sets the chunks)."""
        f = self._file
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        entry["start_time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(frame.timestamp))
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        detector = instrument.create_group("detector")
        detector.attrs["NX_class"] = "NXdetector"
        detector["description"] = "KappaCCD"
        shape = (frame.height, frame.width)
        self._data = detector.create_dataset(
            "data", shape=(0, *shape), maxshape=(None, *shape), chunks=(1, *shape),
            dtype="<u2", **compression(),
        )  # fmt: skip
        self._data.attrs["interpretation"] = "image"
        units = {"count_time": "s", "temperature": "degC", "timestamp": "s"}
        for name, dtype in (("count_time", "f8"), ("temperature", "f8"), ("timestamp", "f8")):
            dataset = detector.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype)
            dataset.attrs["units"] = units[name]
            self._per_frame[name] = dataset
        binning = detector.create_dataset("binning", shape=(0, 2), maxshape=(None, 2), dtype="i4")
        self._per_frame["binning"] = binning
        self._per_frame["timestamp"].attrs["description"] = "seconds since 1970-01-01 UTC"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "data"
        data["data"] = self._data  # a hard link: NXdata's plot is the detector's data

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> Path:
        if index != self._count:
            raise SavingError(f"HDF5 frame {index} out of order: {self._count} expected")
        if self._data is None:
            self._layout(frame)
        self._reserve(len(frame.tobytes()) if index == 0 else self._frame_bytes)
        try:
            self._grow(index + 1)
            self._data[index] = frame.pixels
            meta = self._per_frame
            meta["count_time"][index] = frame.exposure
            meta["temperature"][index] = temperature
            meta["timestamp"][index] = frame.timestamp
            meta["binning"][index] = (frame.binning, frame.binning)
            self._file.flush()
        except BaseException:
            self._shrink_quietly()
            raise
        self._count = index + 1
        return self.path

    def _reserve(self, frame_bytes: int) -> None:
        """Claim the disk space of the next frame and its metadata before HDF5 writes any of it.

        A write that fails half-way leaves HDF5's superblock naming space the file never got,
        and the file would not open; so a full disk (or RLIMIT_FSIZE) must show here, where
        nothing is written yet, and the file stays as the last flush left it. HDF5 writes the
        frame into the space claimed, and trims what is left at the next flush.
        """
        self._frame_bytes = frame_bytes
        need = self._file.id.get_filesize() + frame_bytes + _METADATA_ROOM
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.posix_fallocate(fd, 0, need)
        except OSError as exc:
            raise SavingError(f"No room for the next frame in {str(self.path)!r}: {exc}") from exc
        finally:
            os.close(fd)

    def _grow(self, count: int) -> None:
        self._data.resize(count, axis=0)
        for dataset in self._per_frame.values():
            dataset.resize(count, axis=0)

    def _shrink_quietly(self) -> None:
        """Back to the frames fully written, after a failed write (the disk may be full)."""
        try:
            self._grow(self._count)
            self._file.flush()
        except (OSError, RuntimeError, ValueError):
            pass  # close tries once more; the frames before stay as the last flush left them

    def close(self) -> None:
        if not self._file.id.valid:
            return
        try:
            if self._data is not None:
                self._data.attrs["frames"] = self._count
            self._file.close()
        except (OSError, RuntimeError):
            self._file.close()
            raise
