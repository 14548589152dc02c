"""What the link knows and how it says it: its fields, its state in words, the errors it counted.

`LinkBooks` holds the state that the worker thread (`LinkWorker`) changes and callers (`Link`)
read, all under one condition, `_cv`. It has no thread and sends nothing. No tango import.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import ccdpc
from ccdpc.factory import CLASSES

from .acquisition import Acquisition
from .jobs import JobQueue
from .mailbox import Mailbox, Ticket
from .packettrace import PacketTrace
from .settings import Settings
from .state import LinkState, Snapshot, add_counters

__all__ = [
    "BACKOFF",
    "BUSY_AFTER",
    "COUNTDOWN_STEP",
    "LOGGER",
    "TEMPERATURE_AGE",
    "TEMPERATURE_SHOWN",
    "LinkBooks",
    "explain",
]

#: The logger of the link. A library logs and lets the application decide where to (the device
#: forwards `notices` to Tango logging instead).
LOGGER = "tango_server.link"
logging.getLogger(LOGGER).addHandler(logging.NullHandler())

#: A data message under way, or a command unanswered, this long makes the link BUSY; any shorter
#: and State would flicker on every reply.
BUSY_AFTER = 0.1
#: Reconnection (and generation 3 resume) back-off: first delay, factor, longest delay (seconds).
#: The longest is short so that a PC back after a long outage is found within a second: a
#: refused attempt costs one SYN, and one to a host that does not answer waits ConnectTimeout.
BACKOFF = (0.25, 2.0, 0.5)
#: Seconds a temperature is given before TEMP is sent again: a GUI polling it costs no traffic.
TEMPERATURE_AGE = 1.0
#: Seconds a temperature is shown (pushed in events) after it was read; older is INVALID.
TEMPERATURE_SHOWN = 3.0
#: Status counts down to the next resume attempt in steps of this many seconds.
COUNTDOWN_STEP = 0.1


class LinkBooks:
    """The link's state under `_cv`, and its texts. `listener()` is called (from any thread,
    never with the lock held) after anything that may change the snapshot; it must return at
    once. Log records go to the ``tango_server.link`` logger and to `notices`."""

    def __init__(
        self,
        settings: Settings,
        listener: Callable[[], None] | None = None,
        factory: Callable[..., ccdpc.Connection] = ccdpc.CCDPC,
    ) -> None:
        self.settings = settings
        self.notices: deque[tuple[int, str]] = deque(maxlen=100)
        self._listener = listener
        self._factory = factory
        self._cv = threading.Condition()
        self._jobs = JobQueue(self._cv)
        self._mail = Mailbox()
        self._mail.inboxes.idle = settings.receiver_timeout
        self._acq = Acquisition()
        self._own: Ticket | None = None  # the acquisition's command on the wire
        self._conn: ccdpc.Connection | None = None
        self._resuming = False  # the generation 3 `_conn` lost its link; its session is kept
        self._resume_failures = 0
        self._retired = ccdpc.Counters()  # traffic of the connections closed
        self._reconnects = self._errors = self._attempts = 0
        self._last_error = self._fault = ""
        self._wanted = self._connecting = settings.auto_connect
        self._retry_at: float | None = time.monotonic() if settings.auto_connect else None
        self._backoff = BACKOFF[0]
        self._connected_once = self._stopping = False
        self._connect_error: BaseException | None = None
        self._temperature: tuple[float, float] | None = None  # degC, and when it was read
        self._temperature_watched_until = 0.0  # someone subscribed: keep it fresh till then
        self._trace = PacketTrace(settings.debug)
        self._log = logging.getLogger(LOGGER)

    def snapshot(self) -> Snapshot:
        """The state, texts and counters, consistent with each other."""
        with self._cv:
            conn = self._conn
            state = self._state()
            live = conn.counters if conn is not None else ccdpc.Counters()
            counters = add_counters(self._retired, live)
            counters.reconnects += self._reconnects
            version = conn.protocol_version if conn is not None else 0
            return Snapshot(
                state=state,
                text=self._describe(state),
                alarm=self._mail.alarm,
                protocol_version=version,
                protocol_class=CLASSES[version].__name__ if version else "",
                server_version=conn.server_version if conn is not None else "",
                counters=counters,
                errors=self._errors,
                last_error=self._last_error,
                pending=self._mail.pending,
                session_id=conn.session_id if isinstance(conn, ccdpc.CCDPC3) else 0,
                detector=self._acq.view(),
                temperature=self._fresh_temperature(TEMPERATURE_SHOWN)
                if conn is not None
                else None,
                changes_at=self._changes_at(time.monotonic()),
            )

    def _changes_at(self, now: float) -> float | None:
        """Under the lock: when `snapshot` changes by the clock alone, if it will (see `_state`,
        `_describe` and the temperature shown)."""
        times = []
        since = self._mail.waiting_since if self._conn is not None and not self._resuming else None
        if since is not None and now - since < BUSY_AFTER:  # not BUSY in `_state` yet
            times.append(since + BUSY_AFTER)
        cached = self._temperature
        if self._conn is not None and cached is not None and now - cached[1] < TEMPERATURE_SHOWN:
            times.append(cached[1] + TEMPERATURE_SHOWN)
        retry = self._retry_at
        if self._resuming and retry is not None and retry > now:
            times.append(min(retry, now + COUNTDOWN_STEP))
        return min(times, default=None)

    def _fresh_temperature(self, age: float) -> float | None:
        """Under the lock: the last temperature, if read less than `age` seconds ago."""
        cached = self._temperature
        if cached is None or time.monotonic() - cached[1] >= age:
            return None
        return cached[0]

    def _state(self) -> LinkState:
        if self._conn is None:
            if self._connecting:
                return LinkState.CONNECTING
            return LinkState.FAULT if self._fault else LinkState.DISCONNECTED
        if self._resuming:
            return LinkState.FAULT
        since = self._mail.waiting_since
        if since is not None and time.monotonic() - since >= BUSY_AFTER:
            return LinkState.BUSY
        return LinkState.CONNECTED

    def _describe(self, state: LinkState) -> str:
        where = self.settings.hostname
        if state is LinkState.CONNECTING:
            return f"Connecting to {where} (attempt {self._attempts + 1})."
        if state is LinkState.DISCONNECTED:
            why = "" if self._wanted else " (Disconnect, or AutoConnect false): use Connect"
            return f"Not connected to {where}{why}."
        if state is LinkState.FAULT and self._resuming:
            retry = self._retry_at
            wait = f" in {max(retry - time.monotonic(), 0):.1f} s" if retry else " now"
            return f"{self._fault}. Resuming it: attempt {self._resume_failures + 1}{wait}."
        if state is LinkState.FAULT:
            auto = self._retry_at is not None
            then = "AutoConnect will try again" if auto else "Use Connect to try again"
            return f"{self._fault}. {then}."
        conn = self._conn
        assert conn is not None
        text = f"Connected to {where}, protocol {conn.server_version} ({type(conn).__name__})"
        if state is LinkState.BUSY:
            oldest = self._mail.overdue(time.monotonic(), 0.0)
            doing = f"awaiting the reply to {oldest.text!r}" if oldest else "receiving a message"
            if self._mail.receiving_since is not None:
                doing = "receiving the data of 'READ'"
            text += f", {doing}"
        return text + "."

    def _busy(self) -> str:
        return self._describe(self._state())

    def _retire(self, conn: ccdpc.Connection, why: BaseException) -> None:
        """Forget a closed connection, keeping its traffic in the totals; whatever waited for
        it (replies, the acquisition under way) fails with `why`."""
        if self._conn is conn:
            self._conn, self._resuming, self._own = None, False, None
            self._retired = add_counters(self._retired, conn.counters)
            self._mail.fail_all(why)
            self._acq.link_lost(why)
            self._take_notices()

    def _fail(self, text: str) -> None:
        # The same failure again (a PC still down, retried every BACKOFF[2]) is counted, and
        # timed in LastError, but logged as an error only once.
        repeated = text == self._fault
        self._fault = text
        self._record(logging.DEBUG if repeated else logging.ERROR, text)
        if self._wanted and self.settings.auto_connect:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * BACKOFF[1], BACKOFF[2])

    def _take_notices(self) -> None:
        """What the acquisition had to say: its failures count as errors."""
        for level, text in self._acq.notices:
            if level >= logging.ERROR:
                self._record(level, text)
            else:
                self._notice(level, text)
        self._acq.notices.clear()

    def _notices_of(self, texts: list[str]) -> None:
        """Under the lock: what the inboxes say (a client gone), as notices, not errors."""
        for text in texts:
            self._notice(logging.INFO, text)

    def _record(self, level: int, text: str) -> None:
        self._errors += 1
        self._last_error = f"{time.strftime('%H:%M:%S')} {text}"
        self._notice(level, text)

    def _notice(self, level: int, text: str) -> None:
        self._log.log(level, text)
        self.notices.append((level, text))

    def _changed(self) -> None:
        if self._listener is not None:
            self._listener()


def explain(exc: BaseException) -> str:
    """``timeout: select interrupted by timeout``: driver texts are terse without their class."""
    return f"{type(exc).__name__}: {exc}"
