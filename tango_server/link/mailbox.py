"""Where received messages go: a command's reply to its waiter, everything else to the inbox.

Replies come in command order, one per command (docs/protocol.md, section 2), in every generation:
so a queue of the commands sent (`Ticket`) pairs each reply with its command without reading
sequence numbers, which generation 1 lacks. The data message that follows the ok reply to READ
goes to that READ's ticket if it asked for it (`Ticket.wants_data`), else to the inbox of the
client that sent the READ; until it has come, the mailbox says a transfer is under way. A reply
nobody waits for goes to its sender's inbox (`Ticket.owner`), an event to every client's
(`Inboxes`). It also keeps the PC's complaints (error replies, a STATUS of ERROR) for the
device's ALARM state. Plain data, no threads, no sockets: the link calls it under its lock, and
the tests call it directly.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import ccdpc

from .clients import ANYONE, Caller
from .inboxes import INBOX_BYTES, INBOX_MESSAGES, Inboxes

__all__ = ["INBOX_BYTES", "INBOX_MESSAGES", "UNKNOWN_SEQ", "Mailbox", "Ticket", "payload_of"]

#: The sequence number of a generation 3 command the driver kept for its resume after the send
#: itself failed: it is on its way, but the driver did not say under which number.
UNKNOWN_SEQ = -1


@dataclass
class Ticket:
    """A command sent (or about to be), awaiting its reply.

    `text` is the command's start, upper case, for messages. While `waited_for`, the reply is kept
    here for the caller; otherwise it goes to the inbox of its `owner` (`Send`, or a caller that
    gave up). A READ that `wants_data` also gets the data message after its ok reply, in `data`;
    else that data goes to the owner's inbox too.
    """

    text: str
    waited_for: bool
    wants_data: bool = False
    owner: Caller = ANYONE
    sent: float = 0.0
    seq: int = 0
    reply: ccdpc.Reply | None = None
    data: ccdpc.Data | None = None
    error: BaseException | None = None

    @property
    def settled(self) -> bool:
        """True once the reply (and any data wanted) came, or the command failed."""
        if self.error is not None:
            return True
        if self.reply is None:
            return False
        return not self.wants_data or not self.reply.ok or self.data is not None


def payload_of(message: ccdpc.Message) -> bytes | bytearray:
    """A message's bytes: reply and event text as ASCII, data as is (not copied).

    An error or busy reply raises `ccdpc.CommandError`, so the PC's "no" is not taken for data.
    """
    if isinstance(message, ccdpc.Data):
        return message.payload
    if isinstance(message, ccdpc.Reply) and not message.ok:
        raise ccdpc.CommandError(message.text, busy=message.status is ccdpc.Status.BUSY)
    return message.text.encode("ascii")


class Mailbox:
    """The commands awaiting replies, the clients' inboxes, and the PC's complaints. Not
    thread-safe."""

    def __init__(self, max_messages: int = INBOX_MESSAGES, max_bytes: int = INBOX_BYTES) -> None:
        self.tickets: deque[Ticket] = deque()
        self.inboxes = Inboxes(max_messages, max_bytes)
        self._reply_alarm = ""
        self._status_alarm = ""
        self._data_for: Ticket | None = None
        #: `time.monotonic()` when the ok reply to a READ came, until its data has: a transfer.
        self.receiving_since: float | None = None

    @property
    def first(self) -> Ticket | None:
        """The command the next reply answers, if any."""
        return self.tickets[0] if self.tickets else None

    @property
    def pending(self) -> int:
        """Messages in all inboxes."""
        return self.inboxes.messages

    @property
    def alarm(self) -> str:
        """The PC's last complaint, in words; "" when its last reply and last STATUS were fine."""
        return self._reply_alarm or self._status_alarm

    def sent(self, ticket: Ticket, seq: int, now: float) -> None:
        """`ticket`'s command is on the wire, numbered `seq` by the driver (0 in generation 1)."""
        ticket.sent, ticket.seq = now, seq
        self.tickets.append(ticket)

    def route(self, message: ccdpc.Message, now: float = 0.0) -> list[str]:
        """File a message received at `now`; return the complaints it carries (error and busy
        replies, drops).

        A busy reply to no command (none awaits one, or it carries another sequence number: 0 in
        generation 2) is the PC refusing this client (docs/protocol.md, section 6): it raises
        `ccdpc.CommandError` with ``busy`` set, as the driver's own refusal does.
        """
        if isinstance(message, ccdpc.Data):
            ticket, self._data_for, self.receiving_since = self._data_for, None, None
            if ticket is not None and ticket.wants_data:
                ticket.data = message
                return []
            if ticket is not None:
                return self.inboxes.deliver(message, ticket.owner, now)
        if not isinstance(message, ccdpc.Reply):
            return self.inboxes.broadcast(message)
        first = self.first
        if message.status is ccdpc.Status.BUSY and (
            first is None or first.seq not in (message.seq, UNKNOWN_SEQ)
        ):
            raise ccdpc.CommandError(f"The PC refused this client: {message.text}", busy=True)
        ticket = self.tickets.popleft() if self.tickets else None
        complaints = self._judge(ticket.text if ticket is not None else "?", message)
        if ticket is not None and message.ok and ticket.text.split()[:1] == ["READ"]:
            # Its data message comes next, nothing between (docs/protocol.md, section 2).
            self.receiving_since = now
            self._data_for = ticket
        if ticket is not None and ticket.waited_for:
            ticket.reply = message
            return complaints
        if ticket is None:  # a reply to nothing sent: nobody's, so everybody's
            return complaints + self.inboxes.broadcast(message)
        return complaints + self.inboxes.deliver(message, ticket.owner, now)

    def pop(self, key: str = "", now: float = 0.0) -> ccdpc.Message | None:
        """The oldest message of client `key`'s inbox, or None; the client called at `now`."""
        return self.inboxes.pop(key, now)

    @property
    def waiting_since(self) -> float | None:
        """Since when the link waits on the PC: the sending of the oldest unanswered command, or
        the start of a data message under way, whichever is earlier; None when it waits for
        nothing."""
        times = [self.tickets[0].sent] if self.tickets else []
        if self.receiving_since is not None:
            times.append(self.receiving_since)
        return min(times, default=None)

    def overdue(self, now: float, limit: float) -> Ticket | None:
        """The oldest unanswered command if it was sent more than `limit` seconds ago."""
        oldest = self.tickets[0] if self.tickets else None
        return oldest if oldest is not None and now - oldest.sent > limit else None

    def fail_all(self, error: BaseException) -> None:
        """The connection is gone: no reply will come to the commands awaiting one."""
        for ticket in self.tickets:
            ticket.error = error
        self.tickets.clear()
        if self._data_for is not None and self._data_for.wants_data:
            self._data_for.error = error
        self._data_for = self.receiving_since = None

    def restart_clocks(self, now: float) -> None:
        """A generation 3 session resumed at `now`: the replies still due are due from now on."""
        for ticket in self.tickets:
            ticket.sent = now
        if self.receiving_since is not None:
            self.receiving_since = now

    def clear_alarms(self) -> None:
        """A new connection: complaints about the old one no longer hold."""
        self._reply_alarm = self._status_alarm = ""

    def _judge(self, command: str, reply: ccdpc.Reply) -> list[str]:
        if reply.ok:
            self._reply_alarm = ""
            if command.split()[:1] == ["STATUS"]:
                failing = reply.text.split()[:1] == ["ERROR"]
                self._status_alarm = f"The PC reports {reply.text!r}." if failing else ""
            return []
        if reply.status is ccdpc.Status.BUSY:
            return [f"Busy reply to {command!r}: {reply.text}"]
        self._reply_alarm = f"The PC answered {command!r} with {reply.text!r}."
        return [f"Error reply to {command!r}: {reply.text}"]
