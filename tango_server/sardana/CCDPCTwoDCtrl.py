# Sardana's controller API names its methods in CamelCase, and the Pool finds a controller by
# its file name, which Sardana's convention spells in CamelCase too.
# ruff: noqa: N802, N999
"""A Sardana 2D controller for the ``CCDPC`` device: ``ct``, scans and value references.

Loaded by the Pool from ``tango_server.sardana.CONTROLLER_DIR`` (its ``PoolPath``), as a file:
it imports tango and sardana only. One axis, the detector of the device named by the controller
property ``DeviceName``:

- LoadOne takes the exposure; StartOne calls ``Acquire``. StateOne says Moving until the device's
  ``FrameNumber`` has moved past the one seen at the start and the device has left RUNNING (its
  files closed, ready for the next start), never by a sleep; the device's FAULT,
  ALARM and OFF become Sardana's, with the device's Status as the text. An acquisition that
  ends without its frame ends in Fault, which fails the ``ct`` or the scan.
- ReadOne returns the frame of this acquisition, checked by its number, or raises why there is
  none (aborted, failed, overwritten): never an older frame, never None.
- ``shape`` is [rows, columns] (numpy order) for the ``Binning`` axis attribute.
- The latency time is the dead time after an exposure (readout, transfer), so that ``timescan``
  paces its triggers.
- Value references (``ValueRefEnabled``, off by default): the device saves each frame with
  ``SaveFrame`` under its DataFolder, named by ``ValueRefPattern``, and the scan records
  ``file://<the path written>``, which fabio opens.
- Repetitions (one start, several frames) run as one series on a device that takes them
  (``NbFrames``); ReadOne then returns the frames taken since it was last called (``ReadImage``).
  A device without series refuses them at load.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import tango  # type: ignore[import-untyped]
from sardana import State  # type: ignore[import-untyped]
from sardana.pool.controller import (  # type: ignore[import-untyped]
    Access,
    DataAccess,
    DefaultValue,
    Description,
    Memorize,
    NotMemorized,
    Referable,
    TwoDController,
    Type,
)

__all__ = ["DEFAULT_PATTERN", "FULL_SHAPE", "CCDPCTwoDController"]

#: The full frame in numpy order (rows, columns); binning divides both (docs/protocol.md).
FULL_SHAPE = (1152, 1242)
#: Where value references go by default, under the device's DataFolder: {index} counts the
#: acquisitions of a scan (or ct) from 0, {frame} is the device's FrameNumber (unique while
#: the device server runs).
DEFAULT_PATTERN = "ccdpc_{frame:06d}.kcd"
#: Device states that end an acquisition without a frame, as Sardana's.
_STATES = {
    tango.DevState.ON: State.On,
    tango.DevState.RUNNING: State.Moving,
    tango.DevState.FAULT: State.Fault,
    tango.DevState.ALARM: State.Alarm,
    tango.DevState.OFF: State.Off,
    tango.DevState.INIT: State.Init,
}
#: The device attributes StateOne reads after State and Status (see `StateOne`).
_WATCHED = ("FrameNumber", "Errors", "LastError")


class _Acquisition:
    """One StartOne: the frame it waits for, and how it ended. (Not a dataclass: the Pool
    loads this module without registering it in sys.modules, which dataclasses need.)"""

    def __init__(self, seconds: float, index: int, expected: int, errors: int, frames: int) -> None:
        self.seconds, self.index = seconds, index
        self.expected = expected  # the FrameNumber its (last) frame will have
        self.errors = errors  # the device's Errors count at the start
        self.frames = frames  # 1, or the repetitions of a series
        self.delivered = 0  # frames of a series ReadOne has returned
        self.started = time.monotonic()
        self.ready_at: float | None = None
        self.aborted = False
        self.error = ""
        self.frame: Any = None
        self.reference = ""

    @property
    def finished(self) -> bool:
        return self.ready_at is not None or bool(self.error)


class CCDPCTwoDController(TwoDController, Referable):  # type: ignore[misc]
    """The CCDPC detector as a Sardana 2D experimental channel (one axis)."""

    gender = "2D"
    model = "CCDPC"
    organization = "ccdpc-tango"
    MaxDevice = 1

    ctrl_properties: ClassVar[dict[str, dict[Any, Any]]] = {
        "DeviceName": {Type: str, Description: "The CCDPC Tango device (e.g. ccdpc/demo/1)"},
        "LatencyTime": {
            Type: float,
            DefaultValue: 0.5,
            Description: "Least dead time reported after an exposure, in seconds (readout and "
            "transfer); the controller reports more when it has measured more",
        },
        "Timeout": {
            Type: float,
            DefaultValue: 30.0,
            Description: "Seconds past the exposure time after which an acquisition without "
            "a frame is aborted and reported as failed",
        },
    }
    axis_attributes: ClassVar[dict[str, dict[Any, Any]]] = {
        "Binning": {
            Type: int,
            Access: DataAccess.ReadWrite,
            Memorize: NotMemorized,  # the device memorizes it
            Description: "On-chip binning, 1 or 2 (the device's Binning attribute)",
        },
    }

    def __init__(self, inst: str, props: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        TwoDController.__init__(self, inst, props, *args, **kwargs)
        self._device = tango.DeviceProxy(self.DeviceName)
        self._exposure = 0.0
        self._index = -1
        self._dead_time = 0.0
        self._acq: _Acquisition | None = None
        self._ref_enabled = False
        self._ref_pattern = DEFAULT_PATTERN
        self._has_series: bool | None = None  # the device has NbFrames (asked once)
        self._repetitions = 1
        self._shape = FULL_SHAPE

    # -- acquisition ---------------------------------------------------------------------------

    def PrepareOne(
        self, axis: int, value: float, repetitions: int, latency: float, nb_starts: int
    ) -> None:
        self._check_repetitions(repetitions)
        self._index = -1

    def LoadOne(self, axis: int, value: float, repetitions: int, latency: float) -> None:
        self._check_repetitions(repetitions)
        if not 0 <= value <= 3600:
            raise ValueError(f"Integration time {value:g} s: the detector takes 0 to 3600 s")
        self._exposure = float(value)
        self._repetitions = int(repetitions)
        # A device that takes series makes NbFrames frames per Acquire, LatencyTime apart: the
        # repetitions, whatever a client of the device left it at.
        if self._series():
            if repetitions > 1:
                self._device.LatencyTime = float(latency)
            if self._device.NbFrames != repetitions:
                self._device.NbFrames = int(repetitions)

    def StartOne(self, axis: int, value: float) -> None:
        # The frame to wait for is the one after the current count: no other frame can appear
        # in between, because a second Acquire is refused while one runs.
        watched = ["FrameNumber", "Errors", "Binning"]
        number, errors, binning = (a.value for a in self._device.read_attributes(watched))
        self._index += 1
        frames = self._repetitions
        acq = _Acquisition(self._exposure, self._index, number + frames, errors, frames)
        self._shape = (FULL_SHAPE[0] // binning, FULL_SHAPE[1] // binning)
        try:
            self._device.Acquire(self._exposure)
        except tango.DevFailed as exc:
            acq.error = f"Acquire refused: {_explain(exc)}"
            raise RuntimeError(f"{self.DeviceName}: {acq.error}") from None
        finally:
            # Followed only once Acquire has answered (the device is RUNNING then): the Pool may
            # ask StateOne from another thread meanwhile, and the device still ON before the
            # Acquire is no sign of an acquisition that ended without its frame.
            self._acq = acq

    def StateOne(self, axis: int) -> tuple[Any, str]:
        try:
            # State first, the rest after it, in two calls. In one, Tango reads State and Status
            # after every other attribute: a frame that came in between (FrameNumber read just
            # before it moved, State just after the device left RUNNING) looked like an
            # acquisition that ended without its frame. The device counts a frame before it
            # leaves RUNNING, so State read first and found done means the frame is counted.
            state, status = (a.value for a in self._device.read_attributes(["State", "Status"]))
            number, errors, last_error = (
                a.value for a in self._device.read_attributes(list(_WATCHED))
            )
        except tango.DevFailed as exc:
            text = f"{self.DeviceName} cannot be read: {_explain(exc)}"
            if self._acq is not None and not self._acq.finished:
                self._acq.error = text
            return State.Fault, text
        acq = self._acq
        if acq is not None and not acq.finished:
            self._follow(
                acq, state=state, status=status, number=number, errors=errors, last=last_error
            )
            if not acq.finished:
                return State.Moving, status
            if acq.error and not acq.aborted:
                self._log.error("%s: no frame: %s", self.DeviceName, acq.error)
                # The state that ends the acquisition: a Fault makes ct or the scan fail (the
                # measurement group ends in Fault). Reported once: the next look shows the
                # device as it is, or the measurement group could not start again.
                return State.Fault, f"{self.DeviceName}: no frame: {acq.error}\n{status}"
        if acq is not None and acq.error and not acq.aborted:
            # Until the next start, the Status still says why the last one failed (ct prints
            # the channels' Status when it fails).
            status = f"{status}\nLast acquisition: no frame: {acq.error}"
        return _STATES.get(state, State.Unknown), status

    def ReadOne(self, axis: int) -> Any:
        if self._acq is not None and self._acq.frames > 1:
            return self._read_series(self._acq)
        acq = self._finished()
        if acq.frame is None:
            frame, number = (
                a.value for a in self._device.read_attributes(["Frame", "FrameNumber"])
            )
            if number != acq.expected:
                raise RuntimeError(
                    f"{self.DeviceName}: frame {acq.expected} was overwritten by frame {number}"
                )
            acq.frame = frame
        return acq.frame

    def RefOne(self, axis: int) -> str:
        acq = self._finished()
        if not acq.reference:
            name = self._ref_pattern.removeprefix("file://").format(
                index=acq.index, frame=acq.expected
            )
            written = self._device.SaveFrame(name)
            number = self._device.FrameNumber
            if number != acq.expected:  # saved, but possibly the next frame's pixels
                raise RuntimeError(
                    f"{self.DeviceName}: frame {acq.expected} was overwritten by frame {number} "
                    f"while saving it to {written}"
                )
            acq.reference = f"file://{written}"
        return acq.reference

    def StopOne(self, axis: int) -> None:
        self._abort()

    def AbortOne(self, axis: int) -> None:
        self._abort()

    # -- parameters ----------------------------------------------------------------------------

    def GetCtrlPar(self, parameter: str) -> Any:
        if parameter.lower() == "latency_time":
            # Half as much again as measured: the next point's readout may be slower.
            return max(float(self.LatencyTime), 1.5 * self._dead_time)
        return TwoDController.GetCtrlPar(self, parameter)

    def GetAxisPar(self, axis: int, parameter: str) -> Any:
        name = parameter.lower()
        if name == "shape":
            binning = int(self._device.Binning)
            return [FULL_SHAPE[0] // binning, FULL_SHAPE[1] // binning]
        if name == "value_ref_enabled":
            return self._ref_enabled
        if name == "value_ref_pattern":
            return self._ref_pattern
        return TwoDController.GetAxisPar(self, axis, parameter)

    def SetAxisPar(self, axis: int, parameter: str, value: Any) -> None:
        name = parameter.lower()
        if name == "value_ref_enabled":
            self._ref_enabled = bool(value)
        elif name == "value_ref_pattern":
            pattern = str(value) or DEFAULT_PATTERN
            try:
                pattern.format(index=0, frame=1)
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(
                    f"ValueRefPattern {pattern!r}: only {{index}} and {{frame}} can be "
                    f"filled in ({exc})"
                ) from None
            self._ref_pattern = pattern
        else:
            TwoDController.SetAxisPar(self, axis, parameter, value)

    def GetAxisExtraPar(self, axis: int, parameter: str) -> Any:
        if parameter.lower() == "binning":
            return int(self._device.Binning)
        return TwoDController.GetAxisExtraPar(self, axis, parameter)

    def SetAxisExtraPar(self, axis: int, parameter: str, value: Any) -> None:
        if parameter.lower() == "binning":
            self._device.Binning = int(value)
        else:
            TwoDController.SetAxisExtraPar(self, axis, parameter, value)

    # -- inside --------------------------------------------------------------------------------

    def _series(self) -> bool:
        """The device takes series (issue 13's NbFrames, LatencyTime, ReadImage)."""
        if self._has_series is None:
            self._has_series = "NbFrames" in self._device.get_attribute_list()
        return self._has_series

    def _check_repetitions(self, repetitions: int) -> None:
        if repetitions > 1 and not self._series():
            raise ValueError(
                f"{repetitions} repetitions: this controller takes one frame per start from "
                f"{self.DeviceName}, which takes no series (no NbFrames attribute)"
            )
        if repetitions > 1 and self._ref_enabled:
            raise ValueError(
                f"{repetitions} repetitions: value references take one frame per start "
                "(switch ValueRefEnabled off for series)"
            )

    def _read_series(self, acq: _Acquisition) -> list[Any]:
        """The frames of the series taken since the last call (ReadImage), in order; once the
        series has ended without all of them, the error saying why."""
        taken = acq.frames - (acq.expected - int(self._device.FrameNumber))
        frames = []
        for index in range(acq.delivered, min(taken, acq.frames)):
            try:
                pixels = self._device.ReadImage(index)
            except tango.DevFailed as exc:
                raise RuntimeError(f"{self.DeviceName}: frame {index}: {_explain(exc)}") from None
            frames.append(pixels.reshape(self._shape))
        acq.delivered += len(frames)
        if not frames and acq.finished and acq.error and acq.delivered < acq.frames:
            raise RuntimeError(f"{self.DeviceName}: no frame {acq.delivered}: {acq.error}")
        return frames

    def _finished(self) -> _Acquisition:
        """This acquisition, ended with a frame; else the error saying why there is none."""
        acq = self._acq
        if acq is None:
            raise RuntimeError(f"{self.DeviceName}: no acquisition started yet")
        if not acq.finished:
            raise RuntimeError(f"{self.DeviceName}: acquisition {acq.index} still running")
        if acq.error:
            raise RuntimeError(f"{self.DeviceName}: no frame: {acq.error}")
        return acq

    def _follow(
        self, acq: _Acquisition, *, state: Any, status: str, number: int, errors: int, last: str
    ) -> None:
        """Decide from the device's FrameNumber and State whether `acq` has ended, and how."""
        if number > acq.expected:
            acq.error = f"frame {acq.expected} was overwritten by frame {number}"
        elif state == tango.DevState.RUNNING:  # the frame to come, or the files to close
            if time.monotonic() - acq.started > acq.seconds + self.Timeout:
                self._device_abort()
                late = "device still busy after the frame" if number == acq.expected else "no frame"
                acq.error = f"{late} within {acq.seconds + self.Timeout:g} s: {status}"
        elif number == acq.expected:
            acq.ready_at = time.monotonic()
            self._dead_time = acq.ready_at - acq.started - acq.seconds
        elif acq.aborted:
            acq.error = "acquisition aborted"
        elif errors > acq.errors and last:
            acq.error = f"acquisition failed: {last}"
        else:
            acq.error = f"acquisition ended without a frame: {status}"

    def _abort(self) -> None:
        if self._acq is not None and not self._acq.finished:
            self._acq.aborted = True
        self._device_abort()

    def _device_abort(self) -> None:
        try:
            self._device.Abort()
        except tango.DevFailed as exc:
            # Nothing to stop (disconnected, say) is no reason to fail a stop.
            self._log.warning("Abort on %s: %s", self.DeviceName, _explain(exc))


def _explain(exc: tango.DevFailed) -> str:
    """``CCDPC_Timeout: No answer ...``: the reason, then the description."""
    error = exc.args[0]
    return f"{error.reason}: {error.desc}"
