"""The state the connections of one simulator share: detector, faults, the controlling client,
where events go, and the generation 3 sessions. One re-entrant lock guards all of it.

Nothing under the lock blocks on a socket: handlers only queue bytes for the connections' writer
threads, so the lock is held for microseconds (milliseconds when a READ makes a new frame).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .detector import Detector, Result
from .faults import check_faults
from .sessions import SessionTable

__all__ = ["Hub", "Settings"]


@dataclass
class Settings:
    """How the simulator behaves; the timeouts may be changed at run time (tests shorten them)."""

    protocol: int
    minor: int
    seed: int
    drop_after: int | None
    trickle_delay: float
    #: `drop-session`: each connection draws its drop point from 1..drop_after (seeded).
    drop_random: bool = False
    #: `slow`: the most bytes one chunk holds, and the seconds between the starts of two chunks.
    slow_chunk: int = 1460
    slow_delay: float = 0.002
    #: Generation 3: seconds without any byte from the client before the server hangs up.
    idle_timeout: float = 60.0
    #: Seconds one send may take before the server gives the connection up.
    send_timeout: float = 10.0


class Hub:
    """Shared by the listener, the ticker and every connection of a `Simulator`."""

    def __init__(self, settings: Settings, faults: frozenset[str]) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.detector = Detector(settings.seed)
        self.sessions = SessionTable(random.Random(settings.seed))
        self.stopping = False
        self._faults = faults
        self._once = False
        self._slot = threading.Condition(self.lock)
        self._active: object | None = None
        self._sink: Callable[[str], None] | None = None

    # -- faults -----------------------------------------------------------------------------------

    @property
    def faults(self) -> frozenset[str]:
        return self._faults

    def set_faults(
        self, names: frozenset[str] | list[str] | tuple[str, ...], *, once: bool = False
    ) -> None:
        # One assignment: a connection reading the faults sees the old or the new set, whole.
        self._faults = check_faults(names, self.settings.protocol)
        self._once = once

    def spent(self, name: str) -> None:
        """Fault `name` has just acted: with faults set `once`, it is cleared now."""
        with self.lock:
            if self._once:
                self._faults = self._faults - {name}

    # -- one controlling client -------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._active is not None

    def claim(self, link: object, grace: float) -> bool:
        """Make `link` the controlling connection, waiting up to `grace` seconds for the current
        one to end (its client may have closed a moment ago and its reader not yet noticed)."""
        with self._slot:
            free = self._slot.wait_for(lambda: self._active is None or self.stopping, timeout=grace)
            if not free or self.stopping:
                return False
            self._active = link
            return True

    def release(self, link: object) -> None:
        with self._slot:
            if self._active is link:
                self._active = None
                self._slot.notify_all()

    # -- commands and events ----------------------------------------------------------------------

    def execute(self, payload: bytes, answer: Callable[[Result], None]) -> None:
        """Run a command; events due before it go out before its reply, its own events after."""
        with self.lock:
            now = time.monotonic()
            self.detector.advance(now)
            self.flush_events()
            answer(self.detector.execute(payload, now))
            self.flush_events()

    def set_event_sink(self, sink: Callable[[str], None]) -> None:
        with self.lock:
            self._sink = sink

    def clear_event_sink(self, sink: Callable[[str], None]) -> None:
        with self.lock:
            if self._sink == sink:
                self._sink = None

    def flush_events(self) -> None:
        with self.lock:
            for text in self.detector.take_events():
                if self._sink is not None:
                    self._sink(text)

    def tick(self) -> None:
        """Carry out due transitions, send their events, expire old sessions."""
        with self.lock:
            self.detector.advance()
            self.flush_events()
            for session in self.sessions.purge():
                self.clear_event_sink(session.event)

    def new_run(self) -> None:
        """A (re)started server: fresh detector, no sessions, nobody connected."""
        with self.lock:
            self.detector.reset()
            self.sessions.clear()
            self.stopping = False
            self._active = None
            self._sink = None

    def stop(self) -> None:
        with self._slot:
            self.stopping = True
            self._slot.notify_all()
