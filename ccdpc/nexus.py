"""Frames to one NeXus HDF5 file: ``entry/instrument/detector/data`` (N, H, W) uint16.

Imported without h5py; `NexusWriter` imports h5py (the ``hdf5`` extra) when it opens a file, and
compresses with bitshuffle+LZ4 when hdf5plugin is installed. One chunk per frame; every per-frame
dataset (data, count_time, temperature, timestamp, binning) grows together and the file is flushed
after each frame, so its frame count is always that of the frames fully written. Before HDF5
writes a frame, its disk space is claimed: a full disk then fails where nothing is written yet,
and the file stays valid as the last flush left it (a write failing half-way would leave HDF5's
superblock naming space the file never got). fabio, silx and h5py read the file.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from .image import Frame

__all__ = ["NexusWriter", "compression"]

#: Bytes claimed beyond a frame's for the metadata HDF5 writes with it (chunk index, sizes).
METADATA_ROOM = 256 * 1024
_UNITS = {"count_time": "s", "temperature": "degC", "timestamp": "s"}


def compression() -> dict[str, Any]:
    """The h5py dataset options for bitshuffle+LZ4 if hdf5plugin is installed, else none."""
    try:
        import hdf5plugin  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError:
        return {}
    return dict(hdf5plugin.Bitshuffle(cname="lz4"))


class NexusWriter:
    """One NeXus HDF5 file of frames (see the module doc). `FileExistsError` if `path` exists
    and not `overwrite`; `ImportError` without h5py."""

    def __init__(self, path: str | os.PathLike[str], overwrite: bool = False) -> None:
        import h5py  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415 - optional

        self.path = Path(path)
        # No lock: a live viewer in another process may read what each flush left.
        self._file = h5py.File(self.path, "w" if overwrite else "w-", locking=False)
        self.count = 0
        self._frame_bytes = 0
        self._data: Any = None
        self._per_frame: dict[str, Any] = {}

    def __enter__(self) -> NexusWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _layout(self, frame: Frame) -> None:
        """The groups and datasets, made with the first frame (its size sets the chunks)."""
        entry = self._file.create_group("entry")
        entry.attrs.update(NX_class="NXentry", default="data")
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
        for name, units in _UNITS.items():
            dataset = detector.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8")
            dataset.attrs["units"] = units
            self._per_frame[name] = dataset
        self._per_frame["timestamp"].attrs["description"] = "seconds since 1970-01-01 UTC"
        self._per_frame["binning"] = detector.create_dataset(
            "binning", shape=(0, 2), maxshape=(None, 2), dtype="i4"
        )
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="data")
        data["data"] = self._data  # a hard link: NXdata's plot is the detector's data

    def write(self, frame: Frame, temperature: float = float("nan")) -> int:
        """Append `frame`; return the frames now in the file. `OSError` if it does not fit (the
        file then holds the frames before, intact)."""
        if self._data is None:
            self._layout(frame)
        self._reserve(frame.width * frame.height * 2)
        index = self.count
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
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self._grow(index)  # back to the frames fully written
                self._file.flush()
            raise
        self.count = index + 1
        return self.count

    def _reserve(self, frame_bytes: int) -> None:
        """Claim the disk space of the next frame and its metadata (see the module doc); HDF5
        writes into it and trims what is left at the next flush."""
        need = self._file.id.get_filesize() + frame_bytes + METADATA_ROOM
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.posix_fallocate(fd, 0, need)
        finally:
            os.close(fd)

    def _grow(self, count: int) -> None:
        self._data.resize(count, axis=0)
        for dataset in self._per_frame.values():
            dataset.resize(count, axis=0)

    def close(self) -> None:
        """Close the file (no-op if closed); it stays valid whatever happened before."""
        if not self._file.id.valid:
            return
        try:
            if self._data is not None:
                self._data.attrs["frames"] = self.count
        finally:
            self._file.close()
