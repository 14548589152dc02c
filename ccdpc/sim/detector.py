"""The simulated detector: a state machine that interprets command texts. No sockets, no threads.

Time is read from an injectable clock, and every transition is evaluated lazily from it, so the
state is right at any moment whether or not a server thread is ticking. Events (section 7 of
docs/protocol.md) queue up inside the detector; the server takes them with `take_events`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import ccdpc

from ..messages import Status
from .frames import synthetic_frame

__all__ = [
    "BINNED",
    "FULL",
    "MAX_COMMAND",
    "Detector",
    "Result",
    "serial_number",
]

#: Longest command text the PC takes (generations 2 and 3; generation 1 records are shorter).
MAX_COMMAND = 4096
#: Frame sizes (width, height) by binning.
FULL = (1242, 1152)
BINNED = (621, 576)
#: Seconds the readout takes, by binning.
READOUT = {1: 0.1, 2: 0.025}
MAX_EXPOSURE = 3600.0

#: The software version IDENT reports.
VERSION: str = getattr(ccdpc, "__version__", "1.0.0")

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_EVENT_BACKLOG = 1000


@dataclass(frozen=True)
class Result:
    """The answer to one command: status, text, and for READ the frame bytes."""

    status: Status
    text: str
    data: bytes | None = None


def serial_number(seed: int) -> str:
    """The six-digit serial number a simulator of this seed reports."""
    return f"{seed % 1_000_000:06d}"


def _error(text: str) -> Result:
    return Result(Status.ERROR, text)


class Detector:
    """The detector of the simulated control PC.

    `state` is ``"IDLE"``, ``"EXPOSING"``, ``"READING"`` or ``"ERROR"``; `frames_taken` counts the
    frames of this run. Thread-safe: one lock guards the state.
    """

    def __init__(self, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seed = seed
        self._clock = clock
        self._lock = threading.Lock()
        #: Called (under the detector's lock; it must not block) when events are queued or the
        #: next transition time changes: the server wakes its ticker with it.
        self.on_change: Callable[[], None] | None = None
        self._events: deque[str] = deque(maxlen=_EVENT_BACKLOG)
        self._reset(clock())

    def _reset(self, now: float) -> None:
        self._started = now
        self._state = "IDLE"
        self._message = ""
        self._since = now
        self._seconds = 0.0
        self._binning = 1
        self._frames = 0
        self._frame: tuple[int, int] | None = None
        self._cache: tuple[tuple[int, int], bytes] | None = None
        self.shutter_open = False
        self._events.clear()

    # -- what tests and the server read ----------------------------------------------------------

    @property
    def state(self) -> str:
        """The state now: IDLE, EXPOSING, READING or ERROR."""
        with self._lock:
            self._advance(self._clock())
            return self._state

    @property
    def frames_taken(self) -> int:
        """Frames completed since the server (re)started."""
        with self._lock:
            self._advance(self._clock())
            return self._frames

    def next_change(self) -> float | None:
        """The clock time of the next scheduled transition, or None when nothing is running."""
        with self._lock:
            if self._state == "EXPOSING":
                return self._since + self._seconds
            if self._state == "READING":
                return self._since + READOUT[self._binning]
            return None

    def take_events(self) -> list[str]:
        """The event texts queued since the last call, oldest first."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            return events

    # -- what changes it ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a fresh run: IDLE, no frames, shutter closed, no queued events."""
        with self._lock:
            self._reset(self._clock())
            self._changed()

    def fail(self, message: str) -> None:
        """Put the detector into the ERROR state (a test hook: the real PC gets there by itself)."""
        with self._lock:
            self._advance(self._clock())
            self._message = message
            self._enter("ERROR", self._clock())

    def advance(self, now: float | None = None) -> None:
        """Carry out the transitions due by `now` (default: the clock), queueing their events."""
        with self._lock:
            self._advance(self._clock() if now is None else now)

    def execute(self, command: bytes, now: float | None = None) -> Result:
        """Interpret one command as the control PC does; `now` defaults to the clock."""
        if len(command) > MAX_COMMAND:
            return _error("command too long")
        if any(byte < 0x20 or byte > 0x7E for byte in command):
            return _error("command not ASCII")
        words = command.decode("ascii").split()
        if not words:
            return _error("empty command")
        name, args = words[0].upper(), words[1:]
        with self._lock:
            when = self._clock() if now is None else now
            self._advance(when)
            handler = _COMMANDS.get(name)
            if handler is None:
                return _error(f"unknown command {words[0]}")
            return handler(self, args, when)

    # -- the commands ------------------------------------------------------------------------------

    def _ident(self, args: list[str], now: float) -> Result:
        if args:
            return _error("bad argument: IDENT takes no argument")
        return Result(Status.OK, f"KAPPACCD-SIM {serial_number(self.seed)} {VERSION}")

    def _status(self, args: list[str], now: float) -> Result:
        if args:
            return _error("bad argument: STATUS takes no argument")
        elapsed = now - self._since
        if self._state == "EXPOSING":
            return Result(Status.OK, f"EXPOSING {elapsed:.3f}/{self._seconds:.3f} s")
        if self._state == "READING":
            rows = self._size()[1]
            done = min(rows, int(rows * elapsed / READOUT[self._binning]))
            return Result(Status.OK, f"READING {done}/{rows} rows")
        if self._state == "ERROR":
            return Result(Status.OK, f"ERROR {self._message}")
        return Result(Status.OK, f"IDLE frames={self._frames}")

    def _temp(self, args: list[str], now: float) -> Result:
        if args:
            return _error("bad argument: TEMP takes no argument")
        # A slow deterministic drift around -60 C, so pollers see a plausible changing value.
        offset = ((self.seed * 7) % 5 - 2) / 10
        celsius = -60.0 + offset + 0.4 * math.sin((now - self._started) * 2 * math.pi / 120)
        return Result(Status.OK, f"{celsius:.1f}")

    def _expose(self, args: list[str], now: float) -> Result:
        busy = self._busy()
        if busy is not None:
            return busy
        if self._state == "ERROR":
            return _error(f"detector error: {self._message}")
        if not 1 <= len(args) <= 2:
            return _error("bad argument: EXPOSE takes <seconds> [<binning 1/2>]")
        if _NUMBER.fullmatch(args[0]) is None or not 0 <= float(args[0]) <= MAX_EXPOSURE:
            return _error(f"bad argument: seconds must be 0 to 3600, not {args[0]}")
        if len(args) == 2 and args[1] not in ("1", "2"):
            return _error(f"bad argument: binning must be 1 or 2, not {args[1]}")
        self._seconds = float(args[0])
        self._binning = int(args[1]) if len(args) == 2 else 1
        self._enter("EXPOSING", now)
        return Result(Status.OK, f"EXPOSING {self._seconds:.3f} {self._binning}")

    def _read(self, args: list[str], now: float) -> Result:
        if args:
            return _error("bad argument: READ takes no argument")
        busy = self._busy()
        if busy is not None:
            return busy
        if self._frame is None:
            return _error("no frame")
        number, binning = self._frame
        width, height = FULL if binning == 1 else BINNED
        if self._cache is None or self._cache[0] != self._frame:
            self._cache = (self._frame, bytes(synthetic_frame(width, height, self.seed, number)))
        return Result(Status.OK, f"FRAME {width} {height}", self._cache[1])

    def _abort(self, args: list[str], now: float) -> Result:
        if args:
            return _error("bad argument: ABORT takes no argument")
        if self._state != "IDLE":
            self._enter("IDLE", now)
        return Result(Status.OK, "ABORTED")

    def _shutter(self, args: list[str], now: float) -> Result:
        position = args[0].upper() if len(args) == 1 else ""
        if position not in ("OPEN", "CLOSE"):
            return _error("bad argument: SHUTTER takes OPEN or CLOSE")
        self.shutter_open = position == "OPEN"
        return Result(Status.OK, "SHUTTER OPEN" if self.shutter_open else "SHUTTER CLOSED")

    # -- the state machine -------------------------------------------------------------------------

    def _busy(self) -> Result | None:
        if self._state in ("EXPOSING", "READING"):
            return Result(Status.BUSY, self._state.lower())
        return None

    def _size(self) -> tuple[int, int]:
        return FULL if self._binning == 1 else BINNED

    def _enter(self, state: str, when: float) -> None:
        self._state = state
        self._since = when
        self._events.append(f"STATE {state}")
        self._changed()

    def _advance(self, now: float) -> None:
        # Transitions take effect at the moment they were due, not when someone looked, so the
        # times in STATUS and the order of events do not depend on who asks first.
        if self._state == "EXPOSING" and now >= self._since + self._seconds:
            self._enter("READING", self._since + self._seconds)
        if self._state == "READING" and now >= self._since + READOUT[self._binning]:
            self._frames += 1
            self._frame = (self._frames, self._binning)
            width, height = self._size()
            self._events.append(f"FRAME {self._frames} {width} {height}")
            self._enter("IDLE", self._since + READOUT[self._binning])

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


_COMMANDS: dict[str, Callable[[Detector, list[str], float], Result]] = {
    "IDENT": Detector._ident,
    "STATUS": Detector._status,
    "TEMP": Detector._temp,
    "EXPOSE": Detector._expose,
    "READ": Detector._read,
    "ABORT": Detector._abort,
    "SHUTTER": Detector._shutter,
}
