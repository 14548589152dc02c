"""The thread side of the link: connects, waits on the wire, runs the jobs, resumes sessions.

The worker is the only thread that touches the `ccdpc` connection. It connects (again, with
back-off, when the link is lost and `Settings.auto_connect` is set), runs the jobs callers submit
(a send, a disconnect) and, in between, reads every message as it arrives, filing it in the
`Mailbox` and showing replies and events to the `Acquisition`, whose commands (EXPOSE, STATUS,
READ, ABORT) it sends one at a time, as tickets like a caller's.

Between messages it waits in `select` on two things at once: the connection's socket and the
job queue's bell, which callers ring when they queue a job, ask the acquisition for something or
stop the link. So neither a command nor a message waits for a poll period, and an idle worker
sleeps. The wait ends early only when the clock calls (`_patience`).

A generation 3 link that is lost keeps its connection object, and so its session: the worker
resumes it (`CCDPC3.resume`) at once, then, while that fails, with the reconnection back-off, and
the replies, data and events the server kept then arrive as if nothing had happened. A reply
overdue past FirstPacketTimeout is a link lost too (`CCDPC3.suspend`): from here a hung PC and a
link that stopped carrying look the same, and a resume tells them apart. Only a lost session, a
protocol error, `RESUME_BUDGET` resumes in a row that brought no message while one was awaited (a
hung PC), or a Disconnect close it. Everything here runs in the
worker or under the condition `_cv`; `Link` adds what callers ask for. No tango import.
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import ccdpc

from .books import BACKOFF, TEMPERATURE_AGE, LinkBooks, explain
from .jobs import Job
from .mailbox import UNKNOWN_SEQ, Ticket
from .settings import Settings
from .state import NotConnected

__all__ = ["CLOSE_WAIT", "IDLE", "RESUME_BUDGET", "LinkWorker"]

#: The longest the worker waits on a quiet wire before it calls the driver (`receive(0)`): a
#: generation 3 driver sends its keep-alive PING (after 5 s of silence) and notices an unanswered
#: one only inside a call, so this is a fraction of that interval.
IDLE = 1.0
#: Seconds closing may wait for the peer's answer to a generation 3 CLOSE: a healthy PC answers
#: at once; a lost link gets hardly any grace, as a hung peer would not answer at all.
CLOSE_WAIT = 1.0
LOST_CLOSE_WAIT = 0.2
#: Resumes in a row that may bring no message while a reply (or data) is awaited. The PC got its
#: commands again on a fresh connection and still said nothing: it is hung, and a further resume
#: would only hide that.
RESUME_BUDGET = 1
#: Seconds between two showings of a frame's transfer (Progress, Status): a transfer of a few
#: milliseconds shows none, and costs the driver's hook a clock read per chunk.
TRANSFER_PERIOD = 0.1


def _readable(fds: tuple[int, ...], timeout: float) -> list[int]:
    """The descriptors among `fds` that are readable (or closed) within `timeout` seconds.

    `poll` where there is one: `select` refuses descriptors from 1024 on, which a server with
    many devices and clients reaches.
    """
    if not hasattr(select, "poll"):
        return select.select(fds, [], [], timeout)[0]
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(math.ceil(timeout * 1000))]


class LinkWorker(LinkBooks):
    """The thread that owns the connection of a link (see `Link`)."""

    def __init__(
        self,
        settings: Settings,
        listener: Callable[[], None] | None = None,
        factory: Callable[..., ccdpc.Connection] = ccdpc.CCDPC,
    ) -> None:
        super().__init__(settings, listener, factory)
        self._worker = threading.Thread(
            target=self._run, name=f"ccdpc {settings.hostname}", daemon=True
        )
        # Resumes since the last message arrived, counted while one is awaited (`RESUME_BUDGET`).
        self._fruitless = 0
        self._transfer_due: float | None = None  # when a transfer under way is shown next

    def start(self) -> None:
        """Start the worker; it connects at once if `Settings.auto_connect`."""
        self._worker.start()

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the worker, which closes the connection; force it after `timeout` seconds."""
        with self._cv:
            self._stopping, self._wanted = True, False
            self._jobs.wake()
        if self._worker.ident is None:  # never started: nobody else closes the bell
            self._jobs.close()
        if self._worker.is_alive():
            self._worker.join(timeout)
        with self._cv:
            conn = self._conn
        if conn is not None:  # the worker is stuck in a transfer: close the socket under it
            conn.close(0)

    def _run(self) -> None:
        while True:
            with self._cv:
                job = self._next_job()
                if job is None and self._stopping:
                    break
                conn, resuming = self._conn, self._resuming
            try:
                if job is not None:
                    self._jobs.execute(job)
                    self._changed()
                elif conn is None:
                    self._attempt()
                elif resuming:
                    self._resume(conn)
                else:
                    self._poll(conn)
                    self._drive(conn)
            except Exception as exc:  # a bug must not kill the worker: report it and go on
                self._log.exception("Unexpected error in the link worker")
                with self._cv:
                    self._connecting = False
                    self._record(logging.ERROR, f"Internal error: {exc!r}")
        with self._cv:
            conn = self._conn
        if conn is not None:
            conn.close(CLOSE_WAIT)
            with self._cv:
                self._retire(conn, NotConnected("The device is shutting down"))
        self._jobs.close()

    def _next_job(self) -> Job[Any] | None:
        """Under the condition: a job, or None when it is time to read, connect, resume or stop."""
        while not self._stopping:
            if self._jobs:
                return self._jobs.take()
            if self._conn is not None and not self._resuming:
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
                connecttimeout=s.connect_timeout,
                replytimeout=s.first_packet_timeout,
                packettimeout=s.packet_timeout,
                max_payload=s.max_packet_size,
                # From the first packet (a generation 3 OPEN too); None while Tracing is off, as
                # a tracer costs the driver a copy of every message received.
                trace=self._trace if self._trace.enabled else None,
            )
        except (ccdpc.error, ValueError, OSError) as exc:
            with self._cv:
                self._connecting, self._connect_error = False, exc
                self._attempts += 1
                if self._wanted:
                    self._fail(f"Connecting to {s.hostname} failed: {explain(exc)}")
                self._cv.notify_all()
            self._changed()
            return
        with self._cv:
            self._connecting = False
            self._attempts += 1
            keep = self._wanted and not self._stopping  # else Disconnect came meanwhile
            if keep:
                conn.progress = self._on_transfer
                self._conn, self._connect_error, self._fault = conn, None, ""
                self._backoff, self._fruitless = BACKOFF[0], 0
                self._mail.clear_alarms()
                if self._connected_once:
                    self._reconnects += 1
                self._connected_once = True
                version = f"protocol {conn.server_version} ({type(conn).__name__})"
                self._notice(logging.INFO, f"Connected to {s.hostname}: {version}")
            self._cv.notify_all()
        if not keep:
            conn.close(CLOSE_WAIT)
        self._changed()

    def _on_transfer(self, received: int, total: int) -> None:
        """The driver's progress hook, in this thread, while a frame arrives: shown every
        `TRANSFER_PERIOD` from its start on."""
        now = time.monotonic()
        due = self._transfer_due
        if received >= total:
            self._transfer_due = None  # its data message comes next, and shows it whole
            return
        if due is None:
            self._transfer_due = now + TRANSFER_PERIOD
            return
        if now < due:
            return
        self._transfer_due = now + TRANSFER_PERIOD
        with self._cv:
            self._acq.on_transfer(received, total)
        self._changed()

    def _resume(self, conn: ccdpc.Connection) -> None:
        """One attempt at resuming the session of a suspended generation 3 connection."""
        assert isinstance(conn, ccdpc.CCDPC3)
        with self._cv:
            self._retry_at = None
        self._changed()
        try:
            conn.resume(self.settings.connect_timeout)
        except ccdpc.CommandError:
            return  # a close from another thread holds the lock: the next turn sees the result
        except ccdpc.error as exc:
            with self._cv:
                self._attempts += 1
                self._resume_failures += 1
                self._connect_error = exc
            # Another back-off, or closed: the session is gone.
            closed = not self._lost(conn, exc, at_once=False)
            if closed and isinstance(exc, ccdpc.SessionLost):
                with self._cv:  # the PC answered, so it is back (restarted): a new session now
                    if self._retry_at is not None:
                        self._retry_at = time.monotonic()
            return
        with self._cv:
            self._attempts += 1
            if self._mail.waiting_since is not None:
                self._fruitless += 1
            if self._conn is conn:
                self._resuming, self._fault, self._connect_error = False, "", None
                self._resume_failures, self._backoff = 0, BACKOFF[0]
                # The replies due were held up by the loss.
                self._mail.restart_clocks(time.monotonic())
                self._notice(logging.INFO, f"Resumed session {conn.session_id}")
            self._cv.notify_all()
        self._changed()

    def _poll(self, conn: ccdpc.Connection) -> None:
        """Wait for a message, a wake-up or the clock; read the message, if one is there."""
        if not self._wait(conn):
            return
        self._transfer_due = None  # a frame arriving in this receive is shown from its start
        try:
            message = conn.receive(0)  # no wait: the socket is readable, or the clock called
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
            return  # a close from another thread holds the lock: the next turn sees the result
        now = time.monotonic()
        refused: ccdpc.CommandError | None = None
        self._fruitless = 0
        with self._cv:
            ticket = self._mail.first if isinstance(message, ccdpc.Reply) else None
            try:
                complaints = self._mail.route(message, now)
            except ccdpc.CommandError as refusal:
                complaints, refused = [], refusal
            else:
                self._observe(message, ticket)
            for text in complaints:
                self._record(logging.WARNING, text)
            self._notices_of(self._mail.inboxes.sweep(now))  # a client gone: no more for it
            self._cv.notify_all()
        if refused is not None:
            self._lost(conn, refused)
            return
        self._changed()
        self._check_deadline(conn)

    def _wait(self, conn: ccdpc.Connection) -> bool:
        """Wait until the socket is readable (True), the bell rings (False: the worker has
        something else to do) or the clock calls (True)."""
        fd = conn.fileno()
        # Messages the driver queued (events read while it awaited a reply) are no longer in the
        # socket: select would not see them. A closed socket: `receive` says why.
        if conn.pending or fd < 0:
            return True
        with self._cv:
            patience = self._patience()
        bell = self._jobs.fileno()
        try:
            rang = bell in _readable((bell, fd), patience)
        except (OSError, ValueError):  # closed by another thread meanwhile: `receive` says why
            return True
        if rang:
            self._jobs.woken()
            return False
        return True

    def _patience(self) -> float:
        """Under the lock: seconds until the clock calls: a reply overdue, the acquisition's next
        STATUS, or a watched temperature growing old; at most `IDLE`."""
        now = time.monotonic()
        due = now + IDLE
        oldest = self._mail.first
        if oldest is not None:
            due = min(due, oldest.sent + self.settings.first_packet_timeout)
        if self._own is None:  # else its reply comes first: `_drive` sends one at a time
            status = self._acq.status_due()
            if status is not None:
                due = min(due, status)
            if self._temperature_watched_until > now:
                cached = self._temperature
                due = min(due, cached[1] + TEMPERATURE_AGE if cached is not None else now)
        return max(due - now, 0.0)

    def _observe(self, message: ccdpc.Message, ticket: Ticket | None) -> None:
        """Under the lock: show a message just filed (`ticket`: the command a reply answers) to
        the acquisition."""
        if isinstance(message, ccdpc.Reply) and ticket is not None:
            self._acq.on_reply(ticket.text, message, own=ticket is self._own)
            if ticket.text == "TEMP" and message.ok:  # anyone's: the cache serves all readers
                with contextlib.suppress(ValueError):
                    self._temperature = (float(message.text), time.monotonic())
        elif isinstance(message, ccdpc.Event):
            self._acq.on_event(message.text)
        self._settle_own()

    def _settle_own(self) -> None:
        """Under the lock: hand the acquisition the outcome of its command, once complete."""
        own = self._own
        if own is not None and own.settled:
            self._own = None
            if own.error is not None:
                self._acq.failed(own.text, own.error)
            elif own.data is not None:
                self._acq.on_data(own.data)
        self._take_notices()

    def _drive(self, conn: ccdpc.Connection) -> None:
        """Send the acquisition's next command (or a TEMP someone watches), if there is one and
        none of the worker's own is out."""
        with self._cv:
            if self._own is not None or self._conn is not conn or self._resuming:
                return
            now = time.monotonic()
            text = self._acq.next_command(now)
            if text is None and self._temperature_watched_until > now:
                text = None if self._fresh_temperature(TEMPERATURE_AGE) is not None else "TEMP"
            if text is None:
                return
            if text == "ABORT":
                self._acq.sent_abort()
            self._own = ticket = Ticket(text, waited_for=True, wants_data=text == "READ")
        try:
            self._do_send(text.encode("ascii"), ticket)
        except Exception as exc:  # the link's side is handled; the acquisition learns it here
            with self._cv:
                ticket.error = ticket.error or exc
                self._settle_own()
        with self._cv:
            self._cv.notify_all()
        self._changed()

    def _check_deadline(self, conn: ccdpc.Connection) -> None:
        limit = self.settings.first_packet_timeout
        with self._cv:
            late = self._mail.overdue(time.monotonic(), limit)
        if late is None:
            return
        text = f"No reply to {late.text!r} within {limit:g} s"
        if isinstance(conn, ccdpc.CCDPC3):
            if self._fruitless < RESUME_BUDGET:
                conn.suspend()  # a hung PC or a dead link: the resume tells
            else:
                text += f", even after resuming session {conn.session_id}: the PC is hung"
        self._lost(conn, ccdpc.timeout(text))

    def _lost(self, conn: ccdpc.Connection, exc: BaseException, *, at_once: bool = True) -> bool:
        """The link failed: resume a resumable session (at once, unless `at_once` is False or
        that fails: then after the back-off) and return True; else close."""
        if self._resumable(conn, exc):
            if not at_once:
                self._suspend(conn, exc)
                return True
            assert isinstance(conn, ccdpc.CCDPC3)
            with self._cv:
                spent = self._fruitless >= RESUME_BUDGET and self._mail.waiting_since is not None
            if not spent:
                with self._cv:
                    self._record(
                        logging.WARNING,
                        f"Link to {self.settings.hostname} lost ({explain(exc)}); "
                        f"resuming session {conn.session_id}",
                    )
                self._resume(conn)
                return True
            exc = type(exc)(
                f"{exc}; resumed session {conn.session_id} {self._fruitless} time(s) and "
                "still no answer: the PC is hung"
            )
        conn.close(LOST_CLOSE_WAIT)
        with self._cv:
            if self._conn is conn:
                self._retire(conn, exc if self._wanted else NotConnected("Disconnected"))
                if self._wanted:
                    self._fail(f"Link to {self.settings.hostname} lost: {explain(exc)}")
                else:  # Disconnect closed it under a transfer
                    self._notice(logging.INFO, f"Disconnected from {self.settings.hostname}")
            self._cv.notify_all()
        self._changed()
        return False

    def _resumable(self, conn: ccdpc.Connection, exc: BaseException) -> bool:
        """A generation 3 link lost with its session intact: the driver closed the socket on a
        link failure, not on a lost session, a protocol error, or our own close (Disconnect)."""
        return (
            isinstance(conn, ccdpc.CCDPC3)
            and isinstance(exc, ccdpc.error)
            and not isinstance(exc, (ccdpc.SessionLost, ccdpc.protocolerror))
            and not conn.connected
            and self._wanted
            and not self._stopping
        )

    def _suspend(self, conn: ccdpc.Connection, exc: BaseException) -> None:
        """Keep the connection (and the commands awaiting replies); resume after the back-off."""
        assert isinstance(conn, ccdpc.CCDPC3)
        with self._cv:
            if self._conn is conn:
                self._resuming = True
                self._fault = (
                    f"Link to {self.settings.hostname} lost ({explain(exc)}); "
                    f"session {conn.session_id} kept"
                )
                self._record(logging.ERROR, self._fault)
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * BACKOFF[1], BACKOFF[2])
            self._cv.notify_all()
        self._changed()

    def _do_disconnect(self) -> None:
        with self._cv:
            self._fault = ""
            conn = self._conn
        if conn is None:
            return
        conn.close(CLOSE_WAIT)
        with self._cv:
            self._retire(conn, NotConnected("Disconnected"))
            self._notice(logging.INFO, f"Disconnected from {self.settings.hostname}")

    def _do_send(self, payload: bytes, ticket: Ticket) -> None:
        conn = self._conn
        if conn is None or self._resuming:
            raise NotConnected(self._busy())
        numbered = conn.connected  # a generation 3 command that fails now is kept for the resume
        try:
            seq = conn.send(payload)
        except ccdpc.error as exc:
            if not (self._lost(conn, exc) and numbered):
                raise
            seq = UNKNOWN_SEQ  # it goes out again with the resume: its reply will come
        with self._cv:
            self._mail.sent(ticket, seq, time.monotonic())
