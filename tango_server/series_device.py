# Tango names commands and attributes in CamelCase (and pytango finds readers as read_<Name>).
# ruff: noqa: N802
"""The series layer of the `CCDPC` device: Lima-style acquisition series and automatic saving.

    dev.NbFrames = 20; dev.LatencyTime = 0.1
    dev.SavingMode = "AUTO_FRAME"; dev.SavingFormat = "HDF5"
    dev.SavingDirectory = "run42"; dev.SavingPrefix = "scan_"
    dev.Acquire(0.5)         # 20 frames in the background; State RUNNING until all are on disk
    dev.LastImageSaved       # 19 at the end; change events for it and LastImageAcquired
    dev.ReadImage(3)         # frame 3, while it is in the buffer (BufferFrames)

Tango only here: the series runs in `tango_server.link.series.Series`, the frames go through
`tango_server.saving.SeriesBuffer` to a writer of `tango_server.saving.writers`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tango import AttrWriteType, DevState  # type: ignore[import-untyped]
from tango.server import attribute  # type: ignore[import-untyped]

import ccdpc

from .detector_device import WAIT, DetectorDevice, _exposure_time, command_of
from .errors import raise_devfailed
from .link.series import MAX_FRAMES, Series, SeriesRequest
from .link.state import NoFrame, Snapshot, WaitTimeout
from .publisher import tango_state
from .saving import (
    DEFAULT_CAPACITY,
    Format,
    Mode,
    Plan,
    SavingError,
    SavingOptions,
    SeriesBuffer,
    open_writer,
)

__all__ = ["MAX_BUFFER", "SERIES_EVENTS", "SeriesDevice"]

#: The most frames BufferFrames may hold (a full frame is 2.86 MB).
MAX_BUFFER = 1000
#: Attributes of this layer whose change events are pushed from code.
SERIES_EVENTS = ("LastImageAcquired", "LastImageSaved", "LastSavedFile")
#: Seconds Acquire waits for a series that has all its frames to close (well inside the
#: client's 3 s timeout); longer (a writer far behind) and the Acquire is refused as busy.
CLOSING_GRACE = 1.0


def _rw(dtype: Any, name: str, doc: str, memorized: bool = True, **kw: Any) -> Any:
    return attribute(
        dtype=dtype, access=AttrWriteType.READ_WRITE, memorized=memorized,
        hw_memorized=memorized, fget=f"read_{name}", fset=f"write_{name}", doc=doc, **kw,
    )  # fmt: skip


class SeriesDevice(DetectorDevice):
    """Acquire as a series of NbFrames, saving, ReadImage (see the module doc)."""

    NbFrames = _rw(
        "DevLong", "NbFrames", "Frames Acquire takes, 1 to 100000 (1: a single frame)",
        label="Frames", min_value=1, max_value=MAX_FRAMES,
    )  # fmt: skip
    LatencyTime = _rw(
        float, "LatencyTime", "Pause between two frames of a series, in seconds (>= 0)",
        label="Latency time", unit="s", format="%.3f", min_value=0,
    )  # fmt: skip
    SavingMode = _rw(
        str,
        "SavingMode",
        "MANUAL (SaveFrame only) or AUTO_FRAME (every frame as it arrives)",
        label="Saving mode",
    )
    SavingFormat = _rw(
        str,
        "SavingFormat",
        "KCD or NPY (one file per frame), HDF5 (one NeXus file per series)",
        label="Saving format",
    )
    SavingDirectory = _rw(
        str,
        "SavingDirectory",
        "Folder of the files, relative to DataFolder (never outside it)",
        label="Saving directory",
    )
    SavingPrefix = _rw(
        str, "SavingPrefix", "Start of the file names, without / or \\", label="Saving prefix"
    )
    SavingNextNumber = _rw(
        "DevLong", "SavingNextNumber", "Number of the next file (4 digits after the prefix); "
        "advances by the files a series writes", label="Next file number", min_value=0,
    )  # fmt: skip
    SavingOverwritePolicy = _rw(
        str, "SavingOverwritePolicy",
        "ABORT (an existing file stops the series before it starts) or OVERWRITE",
        label="Overwrite policy",
    )  # fmt: skip
    BufferFrames = _rw(
        "DevLong", "BufferFrames", "Frames held for the writer (and ReadImage); when full, the "
        "next exposure waits", label="Buffer frames", min_value=1, max_value=MAX_BUFFER,
    )  # fmt: skip
    LastImageAcquired = attribute(
        dtype="DevLong", label="Last image acquired", format="%d", fget="read_LastImageAcquired",
        doc="Index in the series of the last frame taken (-1: none); change events",
    )  # fmt: skip
    LastImageSaved = attribute(
        dtype="DevLong", label="Last image saved", format="%d", fget="read_LastImageSaved",
        doc="Index in the series of the last frame complete on disk (-1: none); change events",
    )  # fmt: skip
    LastSavedFile = attribute(
        dtype=str, label="Last saved file", fget="read_LastSavedFile",
        doc="Absolute path of the last file complete on disk (empty: none)",
    )  # fmt: skip

    def init_detector(self) -> None:
        super().init_detector()
        self._nb_frames = 1
        self._latency = 0.0
        self._capacity = DEFAULT_CAPACITY
        self._saving = SavingOptions()
        self._series: Series | None = None
        self._buffer: SeriesBuffer | None = None
        self._series_error = ""
        self._series_lock = threading.Lock()
        self._plan: Plan | None = None  # the files of the last series saved automatically
        self.show_settings({
            "NbFrames": self._nb_frames, "LatencyTime": self._latency,
            "BufferFrames": self._capacity, "SavingMode": self._saving.mode.value,
            "SavingFormat": self._saving.format.value, "SavingDirectory": self._saving.directory,
            "SavingPrefix": self._saving.prefix, "SavingNextNumber": self._saving.next_number,
            "SavingOverwritePolicy": self._saving.policy.value,
        })  # fmt: skip
        for name in SERIES_EVENTS:
            self.set_change_event(name, True, False)

    def delete_device(self) -> None:
        """Stop a series under way; the files are closed."""
        series = getattr(self, "_series", None)
        if series is not None:
            series.abort()
            if self._link is not None:
                with contextlib.suppress(Exception):  # shutting down: the series stops anyway
                    self._link.abort(0.5)
            series.join(WAIT)
        super().delete_device()

    # -- commands ------------------------------------------------------------------------------

    @command_of(dtype_in=float, doc_in="Seconds, 0-3600 (negative: the ExposureTime attribute)")
    def Acquire(self, seconds: float) -> None:
        """Take NbFrames frames (expose, read, save), LatencyTime apart, in the background.

        FrameNumber and LastImageAcquired change (with events) as each frame arrives."""
        with self._driver_errors("Acquire") as link, self._series_lock:
            self._refuse_if_busy()
            chosen = self._exposure if seconds < 0 else _exposure_time(seconds)
            request = SeriesRequest(self._nb_frames, chosen, self._binning, self._latency)
            plan = None
            if self._saving.mode is Mode.AUTO_FRAME:  # checked before anything is exposed
                plan = self._saving.plan(request.frames, self._saving_folder(SavingError))
            hdf5 = plan is not None and plan.format is Format.HDF5  # which keeps temperatures
            series = Series(
                link, request, self._wake, done=lambda: self._done(series), temperatures=hdf5
            )
            late: WaitTimeout | None = None
            try:
                series.begin()
            except WaitTimeout as exc:  # the exposure is under way all the same: follow it
                late = exc
            try:
                writer = open_writer(plan) if plan is not None else None
            except BaseException:
                series.abort()
                link.abort(WAIT)
                raise
            buffer = SeriesBuffer(self._capacity, writer, listener=self._wake)
            self._series, self._buffer, self._series_error = series, buffer, ""
            self._plan = plan
            self._exposure = chosen
            series.start(buffer)
            if late is not None:
                raise late
        self._wake()

    @command_of()
    def Abort(self) -> None:
        """Stop the series after the frame in progress (dropped), and the exposure or readout.

        Every frame taken so far is saved, and the file closed (State RUNNING until then)."""
        deadline = time.monotonic() + WAIT
        series = self._series
        if series is not None:
            series.abort()
        with self._driver_errors("Abort") as link:
            link.abort(WAIT)
        if series is not None:  # usually over at once: then an Acquire right after is welcome
            series.join(max(deadline - time.monotonic(), 0.0))

    @command_of(
        dtype_in="DevLong",
        doc_in="Index of the frame in the current (or last) series, from 0",
        dtype_out="DevVarUShortArray",
        doc_out="Its pixels, row-major (FrameHeight rows of FrameWidth)",
    )
    def ReadImage(self, index: int) -> npt.NDArray[np.uint16]:
        """Frame `index` of the series while it is in the buffer (BufferFrames)."""
        with self._driver_errors("ReadImage"):
            buffer = self._buffer
            if buffer is None:
                raise NoFrame("No series taken yet: Acquire first")
            try:
                frame = buffer.image(index)
            except LookupError as exc:
                raise NoFrame(str(exc)) from None
            return np.asarray(frame.pixels).ravel()

    # -- attributes ----------------------------------------------------------------------------

    def read_NbFrames(self) -> int:
        return self._nb_frames

    def write_NbFrames(self, frames: int) -> None:
        with self._setting("NbFrames"):
            SeriesRequest(frames, 0.0, 1)
            self._nb_frames = int(frames)

    def read_LatencyTime(self) -> float:
        return self._latency

    def write_LatencyTime(self, seconds: float) -> None:
        with self._setting("LatencyTime"):
            SeriesRequest(1, 0.0, 1, seconds)
            self._latency = float(seconds)

    def read_SavingMode(self) -> str:
        return self._saving.mode.value

    def write_SavingMode(self, text: str) -> None:
        with self._setting("SavingMode"):
            self._saving.set_mode(text)

    def read_SavingFormat(self) -> str:
        return self._saving.format.value

    def write_SavingFormat(self, text: str) -> None:
        with self._setting("SavingFormat"):
            self._saving.set_format(text)

    def read_SavingDirectory(self) -> str:
        return self._saving.directory

    def write_SavingDirectory(self, directory: str) -> None:
        with self._setting("SavingDirectory"):
            self._saving.set_directory(directory, self._saving_folder(ValueError))

    def read_SavingPrefix(self) -> str:
        return self._saving.prefix

    def write_SavingPrefix(self, prefix: str) -> None:
        with self._setting("SavingPrefix"):
            self._saving.set_prefix(prefix)

    def read_SavingNextNumber(self) -> int:
        return self._saving.next_number

    def write_SavingNextNumber(self, number: int) -> None:
        with self._setting("SavingNextNumber"):
            self._saving.set_next_number(number)

    def read_SavingOverwritePolicy(self) -> str:
        return self._saving.policy.value

    def write_SavingOverwritePolicy(self, text: str) -> None:
        with self._setting("SavingOverwritePolicy"):
            self._saving.set_policy(text)

    def read_BufferFrames(self) -> int:
        return self._capacity

    def write_BufferFrames(self, frames: int) -> None:
        with self._setting("BufferFrames"):
            if not 1 <= frames <= MAX_BUFFER:
                raise ValueError(f"BufferFrames {frames}: must be 1 to {MAX_BUFFER}")
            self._capacity = int(frames)

    def read_LastImageAcquired(self) -> int:
        return self._buffer.acquired if self._buffer is not None else -1

    def read_LastImageSaved(self) -> int:
        return self._buffer.saved if self._buffer is not None else -1

    def read_LastSavedFile(self) -> str:
        path = self._buffer.last_file if self._buffer is not None else None
        return str(path) if path is not None else ""

    # -- State, Status, events -----------------------------------------------------------------

    def _state_of(self, snap: Snapshot) -> tuple[Any, str]:
        """The link's State and Status, then the series': RUNNING while it runs or its files are
        being written, ALARM with the reason once it stopped on a failure."""
        state, status = tango_state(snap)
        series, buffer = self._series, self._buffer
        activity = series.activity if series is not None else ""
        if activity and state in (DevState.ON, DevState.RUNNING, DevState.ALARM):
            state = DevState.RUNNING
            status = f"{status}\n{activity}."
            if buffer is not None and buffer.full():
                status += f"\nThe writer is behind: buffer full ({buffer.capacity} frames)."
        elif self._series_error and state is DevState.ON:
            state, status = DevState.ALARM, f"{status}\nSeries stopped: {self._series_error}"
        return state, status

    def _series_values(self) -> dict[str, object]:
        return {
            "LastImageAcquired": self.read_LastImageAcquired(),
            "LastImageSaved": self.read_LastImageSaved(),
            "LastSavedFile": self.read_LastSavedFile(),
        }

    # -- inside --------------------------------------------------------------------------------

    def _refuse_if_busy(self) -> None:
        """Refuse while a series runs; one that has all its frames and only closes is given
        `CLOSING_GRACE` to end: a client that starts the next acquisition on the last frame's
        FrameNumber event, as a Sardana scan does, is not turned away for it."""
        series = self._series
        if series is None or not series.running:
            return
        if series.closing and series.join(CLOSING_GRACE):
            return
        raise ccdpc.CommandError("A series is under way: wait for it or Abort", busy=True)

    def _done(self, series: Series) -> None:
        """In the series thread, at its end: the writer finishes, the outcome is kept."""
        buffer = self._buffer
        assert buffer is not None
        buffer.finish()
        error = buffer.error or series.error
        if buffer.error is not None:
            self._series_error = (
                f"saving failed after frame {buffer.saved} of 0-{buffer.acquired}: "
                f"{buffer.error}; frames {buffer.saved + 1} to {buffer.acquired} are not on "
                "disk (ReadImage has them while in the buffer)"
            )
        elif error is not None:
            self._series_error = f"{error}"
        if error is not None and self._link is not None:  # logged by the publisher's thread
            self._link.notices.append((logging.ERROR, f"Series stopped: {self._series_error}"))
        plan = self._plan
        if plan is not None:  # past the files this series wrote (HDF5: one)
            self._saving.next_number += buffer.saved + 1 if plan.format.per_frame else 1

    def _saving_folder(self, error: type[Exception]) -> Path:
        """The DataFolder checked at Init; `error` when it is not set (saving is then off)."""
        if self._data_folder is None:
            raise error("Saving is off: the DataFolder property is not set")
        return self._data_folder

    @contextlib.contextmanager
    def _setting(self, name: str) -> Iterator[None]:
        """A bad value becomes the DevFailed of its kind (CCDPC_BadArgument)."""
        try:
            yield
        except ValueError as exc:
            raise_devfailed(exc, f"CCDPC.write {name}")
