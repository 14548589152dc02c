# Tango names commands and attributes in CamelCase (and pytango finds readers as read_<Name>).
# ruff: noqa: N802
"""The detector layer of the `CCDPC` device: take images without talking at packet level.

    dev.Binning = 2
    dev.Acquire(1.5)          # returns at once; State RUNNING, Status and Progress tell how far
    ...                       # a FrameNumber change event says the frame is ready
    image = dev.Frame         # numpy uint16, height x width
    dev.SaveFrame("run42/frame_0001.kcd")   # under DataFolder

`DetectorDevice` is the base of `CCDPC`: these commands and attributes, and the plumbing from
Tango to the `Link` that both use. Everything delegates to the link (`begin`, `abort`, `frame`,
...), whose worker does the waiting; a Tango thread waits at most `WAIT` seconds.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import tango  # type: ignore[import-untyped]
from tango import AttrDataFormat, AttrQuality, AttrWriteType
from tango.server import (  # type: ignore[import-untyped]
    Device,
    attribute,
    command,
    device_property,
)

import ccdpc
from ccdpc.image import FULL_HEIGHT, FULL_WIDTH

from . import saving
from .errors import raise_devfailed
from .link import Link
from .link.acquisition import Kind
from .link.state import LinkBusy, LinkState, NoFrame, NotConnected, Snapshot
from .publisher import Publisher, tango_state

__all__ = ["MAX_EXPOSURE", "WAIT", "DetectorDevice", "command_of", "maybe_invalid"]

#: Longest wait of a command in a Tango thread, in seconds: well under the clients' 3 s timeout,
#: with room for the device's serialisation lock (a second client may wait behind a first).
WAIT = 2.0
#: Longest exposure the PC takes, in seconds (docs/protocol.md, section 7).
MAX_EXPOSURE = 3600.0
_F = TypeVar("_F", bound=Callable[..., Any])
#: What a read that the link cannot answer now gives INVALID rather than an error.
_UNREADABLE = (ConnectionError, TimeoutError, LinkBusy, ccdpc.CommandError)


def command_of(**kwargs: Any) -> Callable[[_F], _F]:
    """`tango.server.command`, typed (pytango ships no type information)."""
    return cast(Callable[[_F], _F], command(**kwargs))


def maybe_invalid(value: object, valid: bool) -> Any:
    """A value, or the same with INVALID quality (clients then ignore it): not stale, not 0."""
    if valid:
        return value
    return value, time.time(), AttrQuality.ATTR_INVALID


class DetectorDevice(Device):  # type: ignore[misc]
    """Expose, ReadFrame, Acquire, Abort, SaveFrame and the detector's attributes."""

    _link: Link | None
    _publisher: Publisher | None
    _config_error: str

    DataFolder = device_property(
        dtype=str,
        default_value="",
        doc="Absolute folder SaveFrame writes under (relative names are resolved in it, and "
        "nothing outside it is written), checked at Init: missing, not a folder or not writable "
        "by the server's user is FAULT; empty: SaveFrame is off",
    )
    AllowOverwrite = device_property(
        dtype=bool, default_value=False, doc="Let SaveFrame replace an existing file"
    )

    DetectorState = attribute(
        dtype=ccdpc.DetectorState, label="Detector state", fget="read_DetectorState",
        doc="What the CCD does: IDLE, EXPOSING, READING (out) or ERROR; from STATUS, polled while "
        "busy, and from the PC's STATE events (INVALID while disconnected)",
    )  # fmt: skip
    Temperature = attribute(
        dtype=float, label="CCD temperature", unit="degC", format="%.1f",
        fget="read_Temperature",
        doc="CCD temperature from TEMP, read at most once a second (INVALID if it cannot be read)",
    )  # fmt: skip
    ExposureTime = attribute(
        dtype=float, access=AttrWriteType.READ_WRITE, memorized=True, hw_memorized=True,
        label="Exposure time", unit="s", format="%.3f", min_value=0, max_value=MAX_EXPOSURE,
        fget="read_ExposureTime", fset="write_ExposureTime",
        doc="Exposure time of the last Expose or Acquire; the one they use when given a "
        "negative time",
    )  # fmt: skip
    Binning = attribute(
        dtype="DevShort", access=AttrWriteType.READ_WRITE, memorized=True, hw_memorized=True,
        label="Binning", format="%1d", min_value=1, max_value=2,
        fget="read_Binning", fset="write_Binning",
        doc="On-chip binning of Expose and Acquire: 1 (1242 x 1152) or 2 (621 x 576)",
    )  # fmt: skip
    Frame = attribute(
        dtype="DevUShort", dformat=AttrDataFormat.IMAGE, max_dim_x=FULL_WIDTH,
        max_dim_y=FULL_HEIGHT, label="Frame", unit="ADU", format="%5d", fget="read_Frame",
        doc="The last frame read: 16-bit pixels, height x width (INVALID until one is read)",
    )  # fmt: skip
    FrameNumber = attribute(
        dtype="DevLong", label="Frame number", format="%d", fget="read_FrameNumber",
        doc="Frames read since the device started; a change event is pushed when one is ready",
    )  # fmt: skip
    FrameWidth = attribute(
        dtype="DevLong", label="Frame width", unit="px", format="%d", fget="read_FrameWidth",
        doc="Width of the last frame, in pixels (INVALID until one is read)",
    )  # fmt: skip
    FrameHeight = attribute(
        dtype="DevLong", label="Frame height", unit="px", format="%d", fget="read_FrameHeight",
        doc="Height of the last frame, in pixels (INVALID until one is read)",
    )  # fmt: skip
    Progress = attribute(
        dtype=float, label="Progress", unit="%", format="%.1f", min_value=0, max_value=100,
        fget="read_Progress",
        doc="Share done of the Expose, ReadFrame or Acquire under way or last finished: an equal "
        "share per phase (exposure, readout, transfer), from the PC's STATUS figures",
    )  # fmt: skip

    def init_detector(self) -> None:
        """The detector layer's settings, before memorized values are written back."""
        self._exposure = 0.0
        self._binning = 1
        self._data_folder: Path | None = None
        self.show_settings({"ExposureTime": self._exposure, "Binning": self._binning})

    def show_settings(self, values: dict[str, Any]) -> None:
        """Give each writable attribute's set point the value in use, until a client writes one:
        Jive and taurus show the set point beside the reading, "Not initialised" without it."""
        attributes = self.get_device_attr()
        for name, value in values.items():
            attributes.get_w_attr_by_name(name).set_write_value(value)

    def check_data_folder(self) -> None:
        """DataFolder checked (at Init); `ValueError` naming the property if it is unusable."""
        self._data_folder = saving.data_folder(self.DataFolder)

    # -- commands ----------------------------------------------------------------------------

    @command_of(dtype_in=float, doc_in="Seconds, 0-3600 (negative: the ExposureTime attribute)")
    def Expose(self, seconds: float) -> None:
        """Start an exposure with the Binning attribute; returns when the PC has accepted it.

        The PC then exposes and reads out (State RUNNING); ReadFrame fetches the frame."""
        self._begin("Expose", Kind.EXPOSE, seconds)

    @command_of(dtype_in=float, doc_in="Seconds, 0-3600 (negative: the ExposureTime attribute)")
    def Acquire(self, seconds: float) -> None:
        """Expose, wait for the readout, read the frame: in the background, returns at once.

        FrameNumber changes (with an event) when the frame is in the Frame attribute."""
        self._begin("Acquire", Kind.ACQUIRE, seconds)

    @command_of()
    def ReadFrame(self) -> None:
        """Fetch the PC's last frame into the Frame attribute, in the background."""
        with self._driver_errors("ReadFrame") as link:
            self._refuse_if_busy()
            link.begin(Kind.READ, 0.0, self._binning, WAIT)

    @command_of()
    def Abort(self) -> None:
        """Stop the exposure or readout (ABORT) and the operation under way.

        A frame already being transferred is dropped when it has arrived."""
        with self._driver_errors("Abort") as link:
            link.abort(WAIT)

    @command_of(
        dtype_in=str,
        doc_in="File name ending in .kcd or .npy, under DataFolder (relative names are)",
        dtype_out=str,
        doc_out="The absolute path written",
    )
    def SaveFrame(self, path: str) -> str:
        """Save the last frame as a KappaCCD .kcd file (fabio reads it) or a numpy .npy file."""
        with self._driver_errors("SaveFrame") as link:
            folder, allow = self._data_folder, bool(self.AllowOverwrite)
            if folder is None:
                raise ValueError("SaveFrame is off: the DataFolder property is not set")
            saving.target_path(path, folder, allow)  # the name first: it is the argument
            frame = link.frame()
            if frame is None:
                raise NoFrame("No frame read yet: Acquire, or ReadFrame, first")
            written = saving.save(frame, path, folder, allow)
            self.info_stream(f"Frame saved to {written}")
            return str(written)

    # -- attributes --------------------------------------------------------------------------

    def read_DetectorState(self) -> Any:
        state = None
        if self._link is not None:
            with contextlib.suppress(*_UNREADABLE):
                state = self._link.detector_state(WAIT)
        return maybe_invalid(state if state is not None else 0, state is not None)

    def read_Temperature(self) -> Any:
        if self._link is not None:
            with contextlib.suppress(*_UNREADABLE):
                return self._link.temperature(WAIT)
        return maybe_invalid(math.nan, False)

    def read_ExposureTime(self) -> float:
        return self._exposure

    def write_ExposureTime(self, seconds: float) -> None:
        # A setting, not a link operation: memorized values are written back even in FAULT.
        try:
            self._exposure = _exposure_time(seconds)
        except ValueError as exc:
            raise_devfailed(exc, "CCDPC.write ExposureTime")

    def read_Binning(self) -> int:
        return self._binning

    def write_Binning(self, binning: int) -> None:
        if binning not in (1, 2):
            raise_devfailed(ValueError(f"Binning is 1 or 2, not {binning}"), "CCDPC.write Binning")
        self._binning = int(binning)

    def read_Frame(self) -> Any:
        frame = self._link.frame() if self._link is not None else None
        if frame is None:
            return maybe_invalid(np.zeros((0, 0), np.uint16), False)
        return frame.pixels  # a view of the receive buffer: no copy on the device's side

    def read_FrameNumber(self) -> int:
        return self._snapshot().detector.frame_number

    def read_FrameWidth(self) -> Any:
        width = self._snapshot().detector.width
        return maybe_invalid(width, width > 0)

    def read_FrameHeight(self) -> Any:
        height = self._snapshot().detector.height
        return maybe_invalid(height, height > 0)

    def read_Progress(self) -> float:
        return self._snapshot().detector.progress

    # -- plumbing ----------------------------------------------------------------------------

    def _begin(self, origin: str, kind: Kind, seconds: float) -> None:
        with self._driver_errors(origin) as link:
            chosen = self._exposure if seconds < 0 else _exposure_time(seconds)
            self._refuse_if_busy()
            link.begin(kind, chosen, self._binning, WAIT)
            self._exposure = chosen

    @contextlib.contextmanager
    def _driver_errors(self, origin: str) -> Iterator[Link]:
        """The link, with any exception turned into the `DevFailed` of its kind."""
        try:
            if self._link is None:
                raise NotConnected(self._config_error)
            yield self._link
        except tango.DevFailed:
            raise
        except Exception as exc:
            self._wake()  # the failure may have changed the state: publish it now
            raise_devfailed(exc, f"CCDPC.{origin}")

    def _refuse_if_busy(self) -> None:
        """A hook: a longer operation of a subclass (a series) refuses Expose and ReadFrame."""

    def _state_of(self, snap: Snapshot) -> tuple[Any, str]:
        """State and Status from the link's snapshot (a subclass adds its own operations)."""
        return tango_state(snap)

    def _snapshot(self) -> Snapshot:
        if self._link is not None:
            return self._link.snapshot()
        error = self._config_error
        return Snapshot(LinkState.FAULT, error, "", 0, "", "", ccdpc.Counters(), 0, error, 0)

    def _wake(self) -> None:
        if self._publisher is not None:
            self._publisher.wake()


def _exposure_time(seconds: float) -> float:
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_EXPOSURE):
        raise ValueError(f"Exposure time {seconds:g} s: must be 0 to {MAX_EXPOSURE:g} s")
    return float(seconds)
