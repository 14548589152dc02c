"""The link to the control PC: what callers (the Tango device) ask of one `ccdpc` connection.

Messages (`send`, `command`, `receive`) and the detector layer on top of them (`begin` an Expose,
ReadFrame or Acquire, `abort`, `temperature`, `frame`). Callers never wait longer than the timeout
they give: a job still queued at its deadline is withdrawn (nothing was sent); one under way
carries on, and its outcome shows in the state and the last error. The thread that does the work
is in `LinkWorker`. No tango import: the device is a thin layer over this class, and this class
is tested alone.
"""

from __future__ import annotations

import time

import ccdpc

from .acquisition import Kind
from .books import TEMPERATURE_AGE
from .jobs import Job
from .mailbox import Ticket
from .state import LinkBusy, NotConnected, WaitTimeout
from .worker import LinkWorker

__all__ = ["Link"]

#: Seconds one `watch_temperature` keeps the worker reading the temperature.
WATCH = 2.0


class Link(LinkWorker):
    """One connection to the control PC, owned by a worker thread. Thread-safe."""

    def connect(self, timeout: float) -> None:
        """Connect now (no-op when connected); a failed attempt raises the driver's error.

        An attempt still under way at the timeout raises `WaitTimeout` and carries on.
        """
        with self._cv:
            self._wanted = True
            if self._up():
                return
            start = self._attempts  # an attempt under way counts: its outcome is the answer
            self._retry_at = time.monotonic()  # a generation 3 session being resumed: now
            self._cv.notify_all()
            if not self._cv.wait_for(lambda: self._up() or self._attempts > start, timeout):
                raise WaitTimeout(
                    f"Still connecting to {self.settings.hostname} after {timeout:g} s "
                    f"(ConnectTimeout {self.settings.connect_timeout:g} s); State will tell"
                )
            if not self._up():
                raise self._connect_error or NotConnected(self._busy())

    def disconnect(self, timeout: float) -> None:
        """Close the connection and stay disconnected (no reconnection) until `connect`.

        If the worker is stuck in a transfer, the connection is closed under it.
        """
        with self._cv:
            self._wanted, self._retry_at = False, None
            conn = self._conn
            job = Job("Disconnecting", self._do_disconnect)
            self._jobs.put(job, first=True)
            if self._mail.receiving_since is not None:  # a frame arriving: no use waiting
                timeout = 0.0
        try:
            self._jobs.wait(job, timeout, self._busy)
        except (LinkBusy, WaitTimeout):
            if conn is not None:
                conn.close(0)  # the driver allows this from any thread; the worker then sees it
        self._changed()

    def reconnect(self, timeout: float) -> None:
        """`disconnect` then `connect`, within `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        self.disconnect(timeout / 2)
        self.connect(max(deadline - time.monotonic(), 0.0))

    def send(self, payload: bytes, timeout: float) -> None:
        """Send one message with this payload; its reply and data will come out of `receive`."""
        self._wait_sent(*self._submit_send(payload, waited_for=False), timeout)

    def command(self, payload: bytes, timeout: float) -> ccdpc.Reply:
        """Send one message and return its reply (data after the reply goes to the inbox).

        An error or busy reply raises `ccdpc.CommandError`. No reply in time: `WaitTimeout`, and
        the reply, when it comes, goes to the inbox.
        """
        deadline = time.monotonic() + timeout
        job, ticket = self._submit_send(payload, waited_for=True)
        self._wait_sent(job, ticket, timeout)
        with self._cv:
            if not self._cv.wait_for(lambda: ticket.settled, deadline - time.monotonic()):
                ticket.waited_for = False
                raise WaitTimeout(
                    f"No reply to {ticket.text!r} within {timeout:g} s; "
                    "when it comes it will be queued for Receive"
                )
        if ticket.error is not None:
            raise ticket.error
        assert ticket.reply is not None
        if not ticket.reply.ok:
            busy = ticket.reply.status is ccdpc.Status.BUSY
            raise ccdpc.CommandError(ticket.reply.text, busy=busy)
        return ticket.reply

    def receive(self, timeout: float) -> ccdpc.Message:
        """The next message of the inbox, waiting at most `timeout` seconds for one.

        A timeout (`WaitTimeout`) loses nothing: a later message is returned by the next call.
        Messages received before the link was lost are still returned.
        """
        with self._cv:
            self._cv.wait_for(lambda: self._mail.pending or self._conn is None, max(timeout, 0.0))
            message = self._mail.pop()
            if message is None:
                if self._conn is None:
                    raise NotConnected(self._busy())
                raise WaitTimeout(f"Nothing received within {timeout:g} s")
        self._changed()
        return message

    @property
    def tracing(self) -> bool:
        """Whether packets are recorded as hexdump lines (`trace_lines`)."""
        return self._trace.enabled

    @tracing.setter
    def tracing(self, on: bool) -> None:
        with self._cv:
            self._trace.enabled = on
            if self._conn is not None:  # the driver's documented hook, set from any thread
                self._conn.trace = self._trace if on else None

    def trace_lines(self) -> list[str]:
        """The last packets recorded, oldest first."""
        return self._trace.lines()

    def _submit_send(self, payload: bytes, waited_for: bool) -> tuple[Job[None], Ticket]:
        if not payload:
            raise ValueError("Empty message: a command has at least one byte")
        ticket = Ticket(bytes(payload[:40]).decode("ascii", "replace").strip().upper(), waited_for)
        job = Job(f"Sending {ticket.text!r}", lambda: self._do_send(payload, ticket))
        with self._cv:
            self._require_link()
            self._jobs.put(job)
        return job, ticket

    def _wait_sent(self, job: Job[None], ticket: Ticket, timeout: float) -> None:
        try:
            self._jobs.wait(job, timeout, self._busy)
        except (LinkBusy, WaitTimeout):
            with self._cv:
                ticket.waited_for = False  # if it was sent after all, its reply goes to the inbox
            raise

    # -- the detector layer --------------------------------------------------------------------

    def begin(self, kind: Kind, seconds: float, binning: int, timeout: float) -> None:
        """Start an Expose, ReadFrame or Acquire; return once the PC has accepted its first
        command (EXPOSE, or READ), while the rest runs in the worker.

        Another one under way, or the PC saying no: `ccdpc.CommandError`. Not sent within
        `timeout`: withdrawn, `LinkBusy`. Sent but not answered: `WaitTimeout`, and it carries on.
        """
        with self._cv:
            self._require_link()
            op = self._acq.request(kind, seconds, binning)
            self._jobs.wake()
            if not self._cv.wait_for(lambda: op.answered or op.finished, timeout):
                if not op.sent:
                    self._acq.withdraw(op)
                    raise LinkBusy(
                        f"The link is busy ({self._busy()}): "
                        f"{kind.value} withdrawn after {timeout:g} s, nothing sent"
                    )
                raise WaitTimeout(f"No answer to {kind.value} within {timeout:g} s; State tells")
        self._changed()
        if op.error is not None:
            raise op.error
        if op.aborted and not op.answered:
            raise ccdpc.CommandError(f"{kind.value} aborted before it started")

    def abort(self, timeout: float) -> None:
        """Stop the detector (ABORT) and the operation under way. A frame being transferred
        cannot be cut short without breaking the link: it is dropped when it has arrived, and
        this returns at once. An ABORT not answered within `timeout` goes out all the same."""
        with self._cv:
            self._require_link()
            conn, answered = self._conn, self._acq.aborts_answered
            if self._acq.request_abort():
                self._jobs.wake()
                if not self._cv.wait_for(
                    lambda: self._acq.aborts_answered > answered or self._conn is not conn,
                    timeout,
                ):
                    raise WaitTimeout(f"ABORT not answered within {timeout:g} s; it goes out")
                error = self._acq.abort_error if self._conn is conn else NotConnected(self._busy())
                if error is not None:
                    raise error
        self._changed()

    def temperature(self, timeout: float) -> float:
        """The CCD temperature in degrees Celsius: TEMP's answer, at most `TEMPERATURE_AGE` old."""
        with self._cv:
            self._require_link()
            cached = self._fresh_temperature(TEMPERATURE_AGE)
            if cached is not None:
                return cached
        text = self.command(b"TEMP", timeout).text  # the worker keeps it for the next readers
        try:
            return float(text)
        except ValueError:
            raise ccdpc.protocolerror(f"TEMP answered {text!r}") from None

    def watch_temperature(self) -> None:
        """Keep the temperature fresh (TEMP every `TEMPERATURE_AGE` s) for `WATCH` seconds: an
        event subscriber is there, and events must not show a stale value."""
        with self._cv:
            now = time.monotonic()
            if self._temperature_watched_until <= now:  # else the worker knows already
                self._jobs.wake()
            self._temperature_watched_until = now + WATCH

    def detector_state(self, timeout: float) -> ccdpc.DetectorState | None:
        """The detector's state, asking STATUS if no reply or event has told it yet; None while
        disconnected."""
        with self._cv:
            if not self._up():
                return None
            if self._acq.state is not None:
                return self._acq.state
        self.command(b"STATUS", timeout)  # the worker shows its reply to the acquisition
        with self._cv:
            return self._acq.state

    def frame(self) -> ccdpc.Frame | None:
        """The last frame read (its pixels a view of the receive buffer), or None."""
        with self._cv:
            return self._acq.frame

    def finish(self, timeout: float) -> ccdpc.Frame | None:
        """Wait for the Acquire or ReadFrame under way (started with `begin`) to end: its frame,
        or None if it was aborted; its failure is raised. Still running after `timeout`:
        `WaitTimeout` (it carries on). A generation 3 session being resumed keeps it running."""
        with self._cv:
            op = self._acq.operation
            if op is None or op.kind is Kind.EXPOSE:
                raise ValueError("No Acquire or ReadFrame was begun")
            if not self._cv.wait_for(lambda: op.finished, timeout):
                raise WaitTimeout(f"{op.name} still under way after {timeout:g} s")
            if op.error is not None:
                raise op.error
            return None if op.aborted else self._acq.frame

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the link is up (connected, no session being resumed); False if not yet."""
        with self._cv:
            return self._cv.wait_for(self._up, timeout)

    def _up(self) -> bool:
        """Under the lock: connected, and not resuming a generation 3 session."""
        return self._conn is not None and not self._resuming

    def _require_link(self) -> None:
        if not self._up():
            raise NotConnected(self._busy())
