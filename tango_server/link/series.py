"""A series of acquisitions through a `Link`: NbFrames times expose, read, hand over, pause.

`Series` runs in a thread of its own and uses only the link's public API (`begin` an Acquire,
`finish` it, `abort`), so the link and its worker stay as they are: one operation at a time, and
every frame counted in FrameNumber. Each frame goes to a `Sink` (the saving buffer); when the sink
is full, the next exposure waits for room, and `activity` says so. A link lost with a generation 3
session kept is waited for (the operation under way carries on after the resume); one that does
not come back within `RESUME_PATIENCE` stops the series. `abort` stops it after the frame in
progress, which the link drops. No tango import.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import ccdpc

from .acquisition import Kind
from .link import Link
from .state import LinkBusy, NotConnected, WaitTimeout

__all__ = ["MAX_FRAMES", "RESUME_PATIENCE", "Series", "SeriesRequest", "Sink"]

#: The longest series (NbFrames).
MAX_FRAMES = 100_000
#: Seconds a series waits for a lost link to come back before it stops.
RESUME_PATIENCE = 60.0
#: Seconds of one wait of the series thread: how soon it notices `abort`.
_SLICE = 0.25
#: Seconds a `begin` may take (the device's own commands use the same bound).
_BEGIN = 2.0


class Sink(Protocol):
    """Where the frames of a series go (`tango_server.saving.SeriesBuffer`)."""

    error: BaseException | None

    def full(self) -> bool: ...

    def wait_room(self, timeout: float) -> bool: ...

    def put(self, index: int, frame: ccdpc.Frame, temperature: float = math.nan) -> None: ...


@dataclass(frozen=True)
class SeriesRequest:
    """What to take: `frames` exposures of `seconds` with `binning`, `latency` s apart."""

    frames: int
    seconds: float
    binning: int
    latency: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.frames <= MAX_FRAMES:
            raise ValueError(f"NbFrames {self.frames}: must be 1 to {MAX_FRAMES}")
        if not (math.isfinite(self.latency) and self.latency >= 0):
            raise ValueError(f"LatencyTime {self.latency}: must be a number >= 0 s")


class Series:
    """One series under way, in its own thread (see the module doc). Thread-safe."""

    def __init__(
        self,
        link: Link,
        request: SeriesRequest,
        listener: Callable[[], None] | None = None,
        done: Callable[[], None] | None = None,
        temperatures: bool = False,
    ) -> None:
        """`done` is called in the series thread at its end; `temperatures`: keep the CCD
        temperature fresh, to hand each frame's to the sink (else only one read meanwhile)."""
        self.link = link
        self._done = done or (lambda: None)
        self._temperatures = temperatures
        self.request = request
        self._sink: Sink | None = None
        self._listener = listener or (lambda: None)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._activity = "starting"
        self._taken = 0
        self._first_begun = False
        self._last_number = 0  # the link's FrameNumber once the last frame is in
        #: Why the series stopped early (None: it did not, or it was aborted).
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ccdpc-series", daemon=True)

    def begin(self) -> None:
        """Begin the first exposure, in the caller's thread: a link down, busy, or the PC saying
        no raise here, as for a single Acquire (see `Link.begin`). `WaitTimeout` (sent, not
        answered yet) too, but the exposure is under way: `start` the series all the same."""
        self._last_number = self.link.snapshot().detector.frame_number + self.request.frames
        try:
            self.link.begin(Kind.ACQUIRE, self.request.seconds, self.request.binning, _BEGIN)
        except WaitTimeout:
            self._first_begun = True
            raise
        self._first_begun = True

    def start(self, sink: Sink) -> None:
        """Go on in the series thread, handing the frames to `sink` (`begin` first)."""
        self._sink = sink
        self._thread.start()

    def abort(self) -> None:
        """Stop after the frame in progress (the caller aborts the link's operation)."""
        self._stop.set()

    @property
    def aborted(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait for the series thread to end; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def activity(self) -> str:
        """What the series does now, in words ("" once it is over, files closed)."""
        with self._lock:
            return self._activity if self.running else ""

    @property
    def closing(self) -> bool:
        """The link has counted the series' last frame: all that is left is handing it over and
        closing the files. True from the moment FrameNumber (and its event) says so."""
        return self._first_begun and self.link.snapshot().detector.frame_number >= self._last_number

    @property
    def taken(self) -> int:
        """Frames taken and handed to the sink so far."""
        return self._taken

    def _say(self, text: str) -> None:
        with self._lock:
            self._activity = text
        self._listener()

    def _run(self) -> None:
        request, sink = self.request, self._sink
        assert sink is not None and self._first_begun
        try:
            for index in range(request.frames):
                where = f"Series frame {index + 1} of {request.frames}"
                if index > 0 and (not self._room(where) or not self._begin(where)):
                    return
                frame = self._finish(where)
                if frame is None:
                    return
                if self._temperatures:  # TEMP read meanwhile: the next frame's is fresh
                    self.link.watch_temperature()
                temperature = self.link.snapshot().temperature
                sink.put(index, frame, math.nan if temperature is None else temperature)
                self._taken = index + 1
                last = index + 1 == request.frames
                if not last and request.latency > 0:
                    self._say(f"{where} taken: latency {request.latency:g} s")
                    if self._stop.wait(request.latency):
                        return
        except Exception as exc:  # the series stops and says why; the device shows it
            self.error = exc
        finally:
            self._say(f"Series over after {self._taken} frames: saving the frames left")
            self._done()
            self._say("")

    def _room(self, where: str) -> bool:
        """Wait while the sink is full (a slow disk); False if aborted or the sink failed."""
        assert self._sink is not None
        if self._sink.full():
            self._say(f"{where}: waiting for the writer, buffer full")
        while not self._sink.wait_room(_SLICE):
            if self._stop.is_set():
                return False
        if self._sink.error is not None:
            return False
        return not self._stop.is_set()

    def _begin(self, where: str) -> bool:
        """Start the next Acquire, waiting for a lost link to come back; False if aborted."""
        request, deadline = self.request, time.monotonic() + RESUME_PATIENCE
        if self._stop.is_set():
            return False
        self._say(f"{where}: exposing")
        while True:
            try:
                self.link.begin(Kind.ACQUIRE, request.seconds, request.binning, _BEGIN)
                return True
            except WaitTimeout:
                return True  # sent, not answered yet: `finish` waits for the outcome
            except (NotConnected, LinkBusy):
                if time.monotonic() > deadline:
                    raise
                self._say(f"{where}: waiting for the link to come back")
            while not self.link.wait_connected(_SLICE):
                if self._stop.is_set():
                    return False
                if time.monotonic() > deadline:
                    raise NotConnected(f"The link did not come back within {RESUME_PATIENCE:g} s")
            if self._stop.is_set():
                return False

    def _finish(self, where: str) -> ccdpc.Frame | None:
        """The frame of the Acquire begun; None if it was aborted."""
        while True:
            try:
                frame = self.link.finish(_SLICE)
            except WaitTimeout:
                continue  # the abort, if any, reaches the operation through the link
            if frame is None and not self._stop.is_set():
                raise ccdpc.CommandError(f"{where}: aborted from outside the series")
            return frame
