"""`Detector`: the control PC as a detector (expose, wait, read), over any `CCDPC` connection.

Users who take images need not talk at packet level: this layer turns the text commands of
docs/protocol.md, section 7, into typed calls and the READ data into a `Frame`.
"""

from __future__ import annotations

import contextlib
import enum
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import config
from .connection import Connection
from .errors import CommandError, error, protocolerror
from .image import FULL_HEIGHT, FULL_WIDTH, Frame
from .transport import IdleTask

__all__ = ["Detector", "DetectorState", "DetectorStatus", "Ident"]

#: Seconds between two STATUS polls while waiting for the detector.
POLL_INTERVAL = 0.05

_PROGRESS = re.compile(r"([0-9.]+)/([0-9.]+)")


class DetectorState(enum.IntEnum):
    """The detector's state, in the order of the Tango DevEnum `DetectorState`."""

    IDLE = 0
    EXPOSING = 1
    READING = 2
    ERROR = 3


@dataclass(frozen=True)
class DetectorStatus:
    """A parsed STATUS reply: the state, the rest of the text, and progress from 0 to 1 if known."""

    state: DetectorState
    details: str
    progress: float | None = None

    @classmethod
    def parse(cls, text: str) -> DetectorStatus:
        word, _, details = text.partition(" ")
        try:
            state = DetectorState[word]
        except KeyError:
            raise protocolerror(f"STATUS answered {text!r}") from None
        match = _PROGRESS.search(details)
        progress = None
        if match and float(match[2]) > 0:
            progress = min(float(match[1]) / float(match[2]), 1.0)
        return cls(state, details, progress)


@dataclass(frozen=True)
class Ident:
    model: str
    serial: str
    version: str


class Detector:
    """Typed detector operations on a connection (which stays usable for anything else)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.exposure = 0.0
        self.binning = 1

    def ident(self) -> Ident:
        text = self.connection.command("IDENT")
        words = text.split()
        if len(words) != 3:
            raise protocolerror(f"IDENT answered {text!r}, not '<model> <serial> <version>'")
        return Ident(*words)

    def status(self) -> DetectorStatus:
        return DetectorStatus.parse(self.connection.command("STATUS"))

    def temperature(self) -> float:
        """The CCD temperature in degrees Celsius."""
        text = self.connection.command("TEMP")
        try:
            return float(text)
        except ValueError:
            raise protocolerror(f"TEMP answered {text!r}") from None

    def shutter(self, open: bool) -> None:
        self.connection.command("SHUTTER OPEN" if open else "SHUTTER CLOSE")

    def expose(self, seconds: float, binning: int = 1) -> None:
        """Start an exposure; returns at once (the PC exposes, then reads out)."""
        if not 0 <= seconds <= 3600:
            raise ValueError(f"exposure time must be 0-3600 s, not {seconds}")
        if binning not in (1, 2):
            raise ValueError(f"binning must be 1 or 2, not {binning}")
        self.connection.command(f"EXPOSE {seconds:.3f} {binning}")
        self.exposure, self.binning = seconds, binning

    def abort(self) -> None:
        self.connection.command("ABORT")

    def wait(
        self,
        timeout: float,
        idletask: IdleTask | None = None,
        on_status: Callable[[DetectorStatus], object] | None = None,
    ) -> DetectorStatus:
        """Poll STATUS until the detector is IDLE; ERROR raises `CommandError`, and a detector
        still busy after `timeout` seconds raises the builtin `TimeoutError` (the link is fine).
        `on_status` sees every status polled (for a progress bar)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if on_status is not None:
                on_status(status)
            if status.state is DetectorState.IDLE:
                return status
            if status.state is DetectorState.ERROR:
                raise CommandError(f"detector error: {status.details}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"detector still {status.state.name} after {timeout:g} s")
            if idletask is not None:
                idletask()
            time.sleep(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0)))

    def read_frame(self, *, into: bytearray | None = None) -> Frame:
        """Read the last frame; its pixels are a view of the receive buffer (no copy with numpy):
        of `into` if it is the frame's size (see `Connection.read_frame`)."""
        raw = self.connection.read_frame(into=into)
        binning = FULL_WIDTH // raw.width if raw.width and FULL_WIDTH % raw.width == 0 else 1
        return Frame.from_buffer(
            raw.pixels, raw.width, raw.height, binning=binning, exposure=self.exposure
        )

    def acquire(
        self,
        seconds: float,
        binning: int = 1,
        timeout: float | None = None,
        idletask: IdleTask | None = None,
    ) -> Frame:
        """Expose, wait for the readout, and read the frame."""
        self.expose(seconds, binning)
        self.wait(seconds + (config.replytimeout if timeout is None else timeout), idletask)
        return self.read_frame()

    def series(
        self,
        count: int,
        seconds: float,
        binning: int = 1,
        latency: float = 0.0,
        *,
        lend: bool = False,
        timeout: float | None = None,
        on_status: Callable[[DetectorStatus], object] | None = None,
    ) -> Iterator[Frame]:
        """Take `count` frames (expose, wait, read), `latency` seconds apart; yield each.

        `lend`: every frame is received into one buffer, lent to the caller until the next frame
        (copy what must outlive it): no allocation per frame. `on_status` sees every STATUS
        polled; `timeout` is `acquire`'s. An exception, or Ctrl-C, during an exposure aborts it.
        """
        if count < 1:
            raise ValueError(f"count must be >= 1, not {count}")
        if not (math.isfinite(latency) and latency >= 0):
            raise ValueError(f"latency must be >= 0 s, not {latency}")
        buffer = bytearray(FULL_WIDTH // binning * (FULL_HEIGHT // binning) * 2) if lend else None
        wait = seconds + (config.replytimeout if timeout is None else timeout)
        for index in range(count):
            if index and latency:
                time.sleep(latency)  # the pause asked for between frames
            self.expose(seconds, binning)
            try:
                self.wait(wait, on_status=on_status)
            except BaseException:
                with contextlib.suppress(error, CommandError):
                    self.abort()
                raise
            yield self.read_frame(into=buffer)
