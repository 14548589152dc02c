"""Frames of a series to files, complete or not at all. No tango import; h5py only for HDF5.

`FileWriter` writes each frame to its own ``.kcd`` or ``.npy`` file: under a hidden temporary
name first, then renamed, so a reader (or a crash) never meets half a file; under the ABORT policy
the rename does not replace a file that appeared meanwhile. `Hdf5Writer` writes one NeXus file per
series with `ccdpc.nexus.NexusWriter`, whose frame count is always that of the frames fully
written, also after a full disk.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol

import ccdpc
from ccdpc.files import write_kcd, write_npy
from ccdpc.nexus import NexusWriter

from .options import Format, Plan, SavingError

__all__ = ["FileWriter", "FrameWriter", "Hdf5Writer", "open_writer"]


class FrameWriter(Protocol):
    """Writes the frames of one series, in order, and closes."""

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> None:
        """Write frame `index` (complete on disk after the next `flush`)."""

    def flush(self) -> Path:
        """Complete the frames written; return the last file complete."""

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
        self._last: Path | None = None

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> None:
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
        self._last = target

    def flush(self) -> Path:
        """Each file was complete when renamed."""
        assert self._last is not None
        return self._last

    def close(self) -> None:
        """Nothing stays open between frames."""


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):  # the folder itself may be gone: nothing to remove then
        os.unlink(path)


class Hdf5Writer:
    """One NeXus HDF5 file per series: `ccdpc.nexus.NexusWriter`, its errors as `SavingError`
    where they are about the file's name or h5py missing."""

    def __init__(self, path: Path, overwrite: bool) -> None:
        self.path = path
        try:
            self._writer = NexusWriter(path, overwrite)
        except FileExistsError:
            raise SavingError(f"{str(path)!r} exists (policy ABORT)") from None
        except ImportError:
            raise SavingError("SavingFormat HDF5 needs h5py (the tango extra)") from None

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> None:
        if index != self._writer.written:
            raise SavingError(f"HDF5 frame {index} out of order: {self._writer.written} expected")
        self._writer.write(frame, temperature)

    def flush(self) -> Path:
        self._writer.flush()
        return self.path

    def close(self) -> None:
        self._writer.close()
