"""The link to the control PC: what callers (the Tango device) ask of one `ccdpc` connection.

Callers never wait longer than the timeout they give: a job still queued at its deadline is
withdrawn (nothing was sent); one under way carries on, and its outcome shows in the state and
the last error. The thread that does the work is in `LinkWorker`. No tango import: the device is
a thin layer over this class, and this class is tested alone.
"""

from __future__ import annotations

import time

import ccdpc
from ccdpc.factory import CLASSES

from .jobs import Job
from .mailbox import Ticket
from .state import LinkBusy, NotConnected, Snapshot, WaitTimeout, add_counters
from .worker import LinkWorker

__all__ = ["Link"]


class Link(LinkWorker):
    """One connection to the control PC, owned by a worker thread. Thread-safe."""

    def connect(self, timeout: float) -> None:
        """Connect now (no-op when connected); a failed attempt raises the driver's error.

        An attempt still under way at the timeout raises `WaitTimeout` and carries on.
        """
        with self._cv:
            self._wanted = True
            if self._conn is not None:
                return
            start = self._attempts  # an attempt under way counts: its outcome is the answer
            self._retry_at = time.monotonic()
            self._cv.notify_all()
            if not self._cv.wait_for(
                lambda: self._conn is not None or self._attempts > start, timeout
            ):
                raise WaitTimeout(
                    f"Still connecting to {self.settings.hostname} after {timeout:g} s "
                    f"(ConnectTimeout {self.settings.connect_timeout:g} s); State will tell"
                )
            if self._conn is None:
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
        try:
            self._jobs.wait(job, timeout, self._busy)
        except (LinkBusy, WaitTimeout):
            if conn is not None:
                conn.close()  # the driver allows this from any thread; the worker then sees it
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
        self._trace.enabled = on

    def trace_lines(self) -> list[str]:
        """The last packets recorded, oldest first."""
        return self._trace.lines()

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
            )

    def _submit_send(self, payload: bytes, waited_for: bool) -> tuple[Job[None], Ticket]:
        if not payload:
            raise ValueError("Empty message: a command has at least one byte")
        ticket = Ticket(bytes(payload[:40]).decode("ascii", "replace").strip().upper(), waited_for)
        job = Job(f"Sending {ticket.text!r}", lambda: self._do_send(payload, ticket))
        with self._cv:
            if self._conn is None:
                raise NotConnected(self._busy())
            self._jobs.put(job)
        return job, ticket

    def _wait_sent(self, job: Job[None], ticket: Ticket, timeout: float) -> None:
        try:
            self._jobs.wait(job, timeout, self._busy)
        except (LinkBusy, WaitTimeout):
            with self._cv:
                ticket.waited_for = False  # if it was sent after all, its reply goes to the inbox
            raise
