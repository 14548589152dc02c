"""Frames to one NeXus HDF5 file: ``entry/instrument/detector/data`` (N, H, W) uint16.

Imported without h5py; `NexusWriter` imports h5py (the ``hdf5`` extra) when it opens a file, and
compresses with bitshuffle+LZ4 when hdf5plugin is installed. One chunk per frame. `write` adds a
frame's chunk; `flush` writes the per-frame metadata (count_time, temperature, timestamp, binning)
of the frames since the last one and flushes the file, so after a flush every dataset holds exactly
the frames complete (a caller flushes after each frame, or after a few when behind). Before HDF5
writes a frame, its disk space is claimed: a full disk then fails where nothing is written yet, and
the file stays valid as the last flush left it (a write failing half-way would leave HDF5's
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
#: Frames' worth of disk space claimed (and of dataset grown) at a time.
CLAIM_FRAMES = 8
_UNITS = {"count_time": "s", "temperature": "degC", "timestamp": "s"}


def compression() -> dict[str, Any]:
    """The h5py dataset options for bitshuffle+LZ4 if hdf5plugin is installed, else none."""
    try:
        import hdf5plugin  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415
    except ImportError:
        return {}
    return dict(hdf5plugin.Bitshuffle(cname="lz4"))


def _chunk(frame: Frame) -> Any:
    """The frame's pixel bytes without a copy if they are a C-ordered little-endian array."""
    pixels = frame.pixels
    flags = getattr(pixels, "flags", None)
    if flags is not None and flags.c_contiguous and pixels.dtype.str == "<u2":
        return pixels
    return frame.tobytes()


class NexusWriter:
    """One NeXus HDF5 file of frames (see the module doc). `FileExistsError` if `path` exists
    and not `overwrite`; `ImportError` without h5py. `compress`: bitshuffle+LZ4 if available
    (its CPU cost is worth it where the disk, not the page cache, is the limit)."""

    def __init__(
        self, path: str | os.PathLike[str], overwrite: bool = False, compress: bool = True
    ) -> None:
        import h5py  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415 - optional

        self.path = Path(path)
        # No lock: a live viewer in another process may read what each flush left.
        self._file = h5py.File(self.path, "w" if overwrite else "w-", locking=False)
        self._fd = os.open(self.path, os.O_WRONLY)  # for claiming disk space
        self._frames_claimed = 0  # frames the space claimed still has room for
        self._extent = 0  # the data's first dimension: a few frames ahead between flushes
        #: Frames complete in the file (flushed with their metadata), and frames written.
        self.count = self.written = 0
        self._pending: list[tuple[float, float, float, int]] = []
        self._data: Any = None
        self._direct = False
        self._compress = compress
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
        filters = compression() if self._compress else {}
        self._data = detector.create_dataset(
            "data", shape=(0, *shape), maxshape=(None, *shape), chunks=(1, *shape),
            dtype="<u2", **filters,
        )  # fmt: skip
        self._direct = not filters  # a chunk is then the frame's bytes: no pipeline to go through
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

    def write(self, frame: Frame, temperature: float = float("nan")) -> None:
        """Append `frame` (its metadata kept until `flush`). `OSError` if it does not fit: the
        frames written before are then flushed, and the file holds them, intact."""
        if self._data is None:
            self._layout(frame)
        try:
            self._reserve(frame.width * frame.height * 2)
        except OSError:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self.flush()  # into the room claimed with the frame before
            raise
        index = self.written
        try:
            if index >= self._extent:  # a few frames ahead: `flush` sets the exact count
                self._extent = index + CLAIM_FRAMES
                self._data.resize(self._extent, axis=0)
            if self._direct:  # the pixels, as they are, when they are a chunk's bytes already
                self._data.id.write_direct_chunk((index, 0, 0), _chunk(frame))
            else:
                self._data[index] = frame.pixels
        except BaseException:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self._extent = self.written
                self._data.resize(self._extent, axis=0)  # the frames before stay, to flush
            raise
        self._pending.append((frame.exposure, temperature, frame.timestamp, frame.binning))
        self.written = index + 1

    def flush(self) -> int:
        """Write the metadata of the frames written since the last flush and flush the file;
        return the frames now complete in it (`count`)."""
        if self._pending:
            first, rows = self.count, len(self._pending)
            columns = list(zip(*self._pending, strict=True))
            for name, values in zip(
                ("count_time", "temperature", "timestamp"), columns[:3], strict=True
            ):
                self._per_frame[name].resize(first + rows, axis=0)
                self._per_frame[name][first:] = values
            binning = self._per_frame["binning"]
            binning.resize(first + rows, axis=0)
            binning[first:] = [(b, b) for b in columns[3]]
        if self._data is not None and self._extent != self.written:
            self._extent = self.written
            self._data.resize(self._extent, axis=0)
        self._file.flush()
        self._pending.clear()
        self.count = self.written
        return self.count

    def _reserve(self, frame_bytes: int) -> None:
        """Claim the disk space of the next frame and its metadata (see the module doc), for
        `CLAIM_FRAMES` frames at a time; HDF5 writes into it, and `close` trims what is left."""
        if self._frames_claimed > 0:
            self._frames_claimed -= 1
            return
        end = self._file.id.get_filesize()  # HDF5's end of the file: where it writes next
        try:
            os.posix_fallocate(self._fd, 0, end + CLAIM_FRAMES * frame_bytes + METADATA_ROOM)
            self._frames_claimed = CLAIM_FRAMES - 1
        except OSError:  # not room for several: for this one, then?
            os.posix_fallocate(self._fd, 0, end + frame_bytes + METADATA_ROOM)

    def close(self) -> None:
        """Close the file (no-op if closed); it stays valid whatever happened before."""
        if not self._file.id.valid:
            return
        try:
            self.flush()
            end = self._file.id.get_filesize()
        finally:
            self._file.close()
        try:
            if os.fstat(self._fd).st_size > end:
                os.ftruncate(self._fd, end)  # the space claimed and not used
        finally:
            os.close(self._fd)
