"""The thread side of the link: connects, polls the wire, runs the jobs, keeps the books.

The worker is the only thread that touches the `ccdpc` connection. It connects (again, with
back-off, when the link is lost and `Settings.auto_connect` is set), runs the jobs callers submit
(a send, a disconnect) and, in between, reads the wire in short polls, filing every message in
the `Mailbox`. Everything here runs in the worker or under the condition `_cv`; `Link` adds what
callers ask for. No tango import.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import ccdpc

from .jobs import Job, JobQueue
from .mailbox import Mailbox, Ticket
from .packettrace import PacketTrace
from .settings import Settings
from .state import LinkState, NotConnected, add_counters

__all__ = ["BACKOFF", "BUSY_AFTER", "LOGGER", "POLL", "LinkWorker"]

#: The logger of the link. A library logs and lets the application decide where to (the device
#: forwards `notices` to Tango logging instead).
LOGGER = "tango_server.link"
logging.getLogger(LOGGER).addHandler(logging.NullHandler())

#: Seconds one read of the wire waits when idle: the longest a submitted job waits for the worker.
POLL = 0.05
#: ... and for `BURST` seconds after any traffic, when the next command is likely to follow (a
#: script's loop): the short poll cuts each command's latency tenfold for a little CPU.
POLL_BURST = 0.005
BURST = 1.0
#: A message half received, or a command unanswered, this long makes the link BUSY; any shorter
#: and State would flicker on every reply.
BUSY_AFTER = 0.1
#: Seconds closing may wait for the peer's answer to a generation 3 CLOSE: a healthy PC answers
#: at once; a lost link gets hardly any grace, as a hung peer would not answer at all.
CLOSE_WAIT = 1.0
LOST_CLOSE_WAIT = 0.2
#: Reconnection back-off: first delay, factor, longest delay (seconds).
BACKOFF = (0.25, 2.0, 8.0)


class LinkWorker:
    """The state of a link and the thread that owns its connection (see `Link`).

    `listener()` is called (from any thread, never with the lock held) after anything that may
    change the link's snapshot; it must return at once. Log records go to the ``tango_server.link``
    logger and to `notices`, for the device to forward.
    """

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
        self._conn: ccdpc.Connection | None = None
        self._retired = ccdpc.Counters()  # traffic of the connections closed
        self._reconnects = self._errors = self._attempts = 0
        self._last_error = self._fault = ""
        self._wanted = self._connecting = settings.auto_connect
        self._retry_at: float | None = time.monotonic() if settings.auto_connect else None
        self._backoff = BACKOFF[0]
        self._connected_once = self._stopping = False
        self._connect_error: BaseException | None = None
        self._active_at = 0.0
        self._trace = PacketTrace(settings.debug)
        self._log = logging.getLogger(LOGGER)
        self._worker = threading.Thread(
            target=self._run, name=f"ccdpc {settings.hostname}", daemon=True
        )

    def start(self) -> None:
        """Start the worker; it connects at once if `Settings.auto_connect`."""
        self._worker.start()

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the worker, which closes the connection; force it after `timeout` seconds."""
        with self._cv:
            self._stopping, self._wanted = True, False
            self._cv.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout)
        with self._cv:
            conn = self._conn
        if conn is not None:  # the worker is stuck in a transfer: close the socket under it
            conn.close()

    def _state(self) -> LinkState:
        if self._conn is None:
            if self._connecting:
                return LinkState.CONNECTING
            return LinkState.FAULT if self._fault else LinkState.DISCONNECTED
        now, since = time.monotonic(), self._trace.receiving_since
        if since is not None and now - since >= BUSY_AFTER:
            return LinkState.BUSY
        if self._mail.overdue(now, BUSY_AFTER) is not None:
            return LinkState.BUSY
        return LinkState.CONNECTED

    def _describe(self, state: LinkState) -> str:
        where = self.settings.hostname
        if state is LinkState.CONNECTING:
            return f"Connecting to {where} (attempt {self._attempts + 1})."
        if state is LinkState.DISCONNECTED:
            why = "" if self._wanted else " (Disconnect, or AutoConnect false): use Connect"
            return f"Not connected to {where}{why}."
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
            text += f", {doing}"
        return text + "."

    def _busy(self) -> str:
        return self._describe(self._state())

    def _run(self) -> None:
        while True:
            with self._cv:
                job = self._next_job()
                if job is None and self._stopping:
                    break
                conn = self._conn
            try:
                if job is not None:
                    self._active_at = time.monotonic()
                    self._jobs.execute(job)
                    self._changed()
                elif conn is None:
                    self._attempt()
                else:
                    self._poll(conn)
            except Exception as exc:  # a bug must not kill the worker: report it and go on
                self._log.exception("Unexpected error in the link worker")
                with self._cv:
                    self._connecting = False
                    self._record(logging.ERROR, f"Internal error: {exc!r}")
        with self._cv:
            conn = self._conn
        if conn is not None:
            _close(conn, CLOSE_WAIT)
            with self._cv:
                self._retire(conn, NotConnected("The device is shutting down"))

    def _next_job(self) -> Job[Any] | None:
        """Under the condition: a job, or None when it is time to poll, connect or stop."""
        while not self._stopping:
            if self._jobs:
                return self._jobs.take()
            if self._conn is not None:
                return None
            if self._retry_at is None:
                self._cv.wait()
                continue
            delay = self._retry_at - time.monotonic()
            if delay <= 0:
                return None
            self._cv.wait(delay)
        return None

    def _attempt(self) -> None:
        s = self.settings
        with self._cv:
            self._connecting, self._retry_at = self._wanted, None
            if not self._wanted:
                return
        self._changed()
        try:
            conn = self._factory(
                s.hostname,
                txtout=self._trace.add,
                debug=self._trace.enabled,  # so that a generation 3 OPEN is traced too
                connecttimeout=s.connect_timeout,
                replytimeout=s.first_packet_timeout,
                packettimeout=s.packet_timeout,
                max_payload=s.max_packet_size,
            )
        except (ccdpc.error, ValueError, OSError) as exc:
            with self._cv:
                self._connecting, self._connect_error = False, exc
                self._attempts += 1
                if self._wanted:
                    self._fail(f"Connecting to {s.hostname} failed: {_explain(exc)}")
                self._cv.notify_all()
            self._changed()
            return
        conn.trace = self._trace
        with self._cv:
            self._connecting = False
            self._attempts += 1
            keep = self._wanted and not self._stopping  # else Disconnect came meanwhile
            if keep:
                self._conn, self._connect_error, self._fault = conn, None, ""
                self._active_at = time.monotonic()  # the first command is likely to follow
                self._backoff = BACKOFF[0]
                self._mail.clear_alarms()
                if self._connected_once:
                    self._reconnects += 1
                self._connected_once = True
                version = f"protocol {conn.server_version} ({type(conn).__name__})"
                self._notice(logging.INFO, f"Connected to {s.hostname}: {version}")
            self._cv.notify_all()
        if not keep:
            conn.close()
        self._changed()

    def _poll(self, conn: ccdpc.Connection) -> None:
        burst = time.monotonic() - self._active_at < BURST
        try:
            message = conn.receive(POLL_BURST if burst else POLL)
        except ccdpc.timeout as exc:
            if conn.connected:  # nothing arrived: the link is fine
                self._check_deadline(conn)
            else:
                self._lost(conn, exc)
            return
        except ccdpc.error as exc:
            self._lost(conn, exc)
            return
        except ccdpc.CommandError:
            return  # a close from another thread holds the lock: the next poll sees the result
        finally:
            self._trace.received()
        self._active_at = time.monotonic()
        refused: ccdpc.CommandError | None = None
        with self._cv:
            try:
                complaints = self._mail.route(message)
            except ccdpc.CommandError as refusal:
                complaints, refused = [], refusal
            for text in complaints:
                self._record(logging.WARNING, text)
            self._cv.notify_all()
        if refused is not None:
            self._lost(conn, refused)
            return
        self._changed()
        self._check_deadline(conn)

    def _check_deadline(self, conn: ccdpc.Connection) -> None:
        limit = self.settings.first_packet_timeout
        with self._cv:
            late = self._mail.overdue(time.monotonic(), limit)
        if late is not None:
            self._lost(conn, ccdpc.timeout(f"No reply to {late.text!r} within {limit:g} s"))

    def _lost(self, conn: ccdpc.Connection, exc: BaseException) -> None:
        _close(conn, LOST_CLOSE_WAIT)
        with self._cv:
            if self._conn is conn:
                self._retire(conn, exc if self._wanted else NotConnected("Disconnected"))
                if self._wanted:
                    self._fail(f"Link to {self.settings.hostname} lost: {_explain(exc)}")
                else:  # Disconnect closed it under a transfer
                    self._notice(logging.INFO, f"Disconnected from {self.settings.hostname}")
            self._cv.notify_all()
        self._changed()

    def _do_disconnect(self) -> None:
        with self._cv:
            self._fault = ""
            conn = self._conn
        if conn is None:
            return
        _close(conn, CLOSE_WAIT)
        with self._cv:
            self._retire(conn, NotConnected("Disconnected"))
            self._notice(logging.INFO, f"Disconnected from {self.settings.hostname}")

    def _do_send(self, payload: bytes, ticket: Ticket) -> None:
        conn = self._conn
        if conn is None:
            raise NotConnected(f"Not connected to {self.settings.hostname}")
        try:
            seq = conn.send(payload)
        except ccdpc.error as exc:
            self._lost(conn, exc)
            raise
        with self._cv:
            self._mail.sent(ticket, seq, time.monotonic())

    def _retire(self, conn: ccdpc.Connection, why: BaseException) -> None:
        """Forget a closed connection, keeping its traffic in the totals."""
        if self._conn is conn:
            self._conn = None
            self._retired = add_counters(self._retired, conn.counters)
            self._mail.fail_all(why)

    def _fail(self, text: str) -> None:
        self._fault = text
        self._record(logging.ERROR, text)
        if self._wanted and self.settings.auto_connect:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * BACKOFF[1], BACKOFF[2])

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


def _close(conn: ccdpc.Connection, wait: float) -> None:
    """Close, waiting at most `wait` seconds for the peer (the packet timeout bounds that wait)."""
    conn.packettimeout = min(conn.packettimeout or wait, wait)
    conn.close()


def _explain(exc: BaseException) -> str:
    """``timeout: select interrupted by timeout``: driver texts are terse without their class."""
    return f"{type(exc).__name__}: {exc}"
