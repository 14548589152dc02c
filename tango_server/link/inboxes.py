"""One inbox per client that receives: its own replies and data, and a copy of every event.

A client becomes a receiver with its first `Send` or `Receive` (`Inboxes.open`); a reply or data
for a client without an inbox (a `Command` that gave up waiting) opens one too. Unsolicited
messages (the PC's events) are copied to every open inbox; a client that never sends or receives
gets none, so a panel reading attributes costs nothing here.

Everything is bounded: each inbox keeps at most `max_messages` messages and `max_bytes` bytes,
and all inboxes together `max_bytes` bytes (then the fullest inbox loses its oldest); at most
`max_receivers` inboxes are open (then the one fetched from longest ago is dropped). A client
that is gone has its inbox dropped (`sweep`): one on this host whose process has ended, or any
that has fetched nothing for `idle` seconds. Plain data, no threads, no tango: the link calls it
under its lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import ccdpc

from .clients import Caller, is_local, process_exists
from .settings import RECEIVER_TIMEOUT

__all__ = [
    "INBOX_BYTES",
    "INBOX_MESSAGES",
    "MAX_RECEIVERS",
    "SWEEP_PERIOD",
    "Inbox",
    "Inboxes",
]

#: Bounds of one inbox, and (bytes) of all of them together: messages nobody fetches must not eat
#: the server's memory. 256 MiB is 89 full frames.
INBOX_MESSAGES = 1024
INBOX_BYTES = 256 * 1024 * 1024
#: Inboxes open at once; beyond, the one fetched from longest ago is dropped.
MAX_RECEIVERS = 64
#: Whether processes still run is looked at most this often (seconds): one system call each.
SWEEP_PERIOD = 0.5


@dataclass
class Inbox:
    """A client's messages. `seen`: its last call (`time.monotonic()`); `watched`: its process
    runs on this host and was found there, so its end can be seen."""

    caller: Caller
    seen: float
    watched: bool
    messages: deque[ccdpc.Message] = field(default_factory=deque)
    size: int = 0
    dropped: int = 0


class Inboxes:
    """The open inboxes by client key. Not thread-safe."""

    def __init__(
        self,
        max_messages: int = INBOX_MESSAGES,
        max_bytes: int = INBOX_BYTES,
        *,
        max_receivers: int = MAX_RECEIVERS,
        idle: float = RECEIVER_TIMEOUT,
        exists: Callable[[int], bool | None] = process_exists,
        local: Callable[[str], bool] = is_local,
    ) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.max_receivers = max_receivers
        self.idle = idle
        self._exists, self._local = exists, local
        self._boxes: dict[str, Inbox] = {}
        self._count = self._size = 0
        self._next_look = float("-inf")

    @property
    def messages(self) -> int:
        """Messages waiting in all inboxes."""
        return self._count

    def __contains__(self, key: str) -> bool:
        return key in self._boxes

    def pending(self, key: str, now: float | None = None) -> int:
        """Messages waiting for client `key` (0 without an inbox); `now`: it is calling."""
        box = self._boxes.get(key)
        if box is None:
            return 0
        if now is not None:
            box.seen = max(box.seen, now)
        return len(box.messages)

    def open(self, caller: Caller, now: float) -> list[str]:
        """`caller` receives from now on (and called at `now`); returns what that dropped."""
        box = self._boxes.get(caller.key)
        if box is not None:
            box.seen = max(box.seen, now)
            return []
        return self._create(caller, now)

    def deliver(self, message: ccdpc.Message, caller: Caller, now: float) -> list[str]:
        """File a reply or data for `caller`, opening its inbox if it has none (a message is no
        call of the client's: it does not keep it from going idle); returns what it dropped."""
        dropped = [] if caller.key in self._boxes else self._create(caller, now)
        return dropped + self._file(self._boxes[caller.key], message)

    def broadcast(self, message: ccdpc.Message) -> list[str]:
        """File an unsolicited message in every inbox; returns the drops it caused."""
        complaints = []
        for box in list(self._boxes.values()):
            complaints += self._file(box, message)
        return complaints

    def pop(self, key: str, now: float) -> ccdpc.Message | None:
        """Client `key`'s oldest message, or None; it called at `now`."""
        box = self._boxes.get(key)
        if box is None:
            return None
        box.seen = max(box.seen, now)
        if not box.messages:
            return None
        message = box.messages.popleft()
        self._forget(box, message)
        return message

    def sweep(self, now: float) -> list[str]:
        """Drop the inboxes of clients gone: idle too long, or their process ended on this host
        (looked at most every `SWEEP_PERIOD` seconds). Returns what was dropped, in words."""
        look = now >= self._next_look
        if look:
            self._next_look = now + SWEEP_PERIOD
        notices = []
        for box in list(self._boxes.values()):
            if now - box.seen > self.idle:
                notices.append(self._drop(box, f"nothing fetched for {self.idle:g} s"))
            elif look and box.watched and self._exists(box.caller.pid) is False:
                notices.append(self._drop(box, "its process has ended"))
        return notices

    def describe(self, now: float) -> list[str]:
        """One line per open inbox, for people: who, what waits, when it last called."""
        lines = []
        for box in self._boxes.values():
            who = box.caller.key or "(unidentified)"
            if box.caller.name:
                who += f" ({box.caller.name})"
            dropped = f", {box.dropped} dropped" if box.dropped else ""
            lines.append(
                f"{who}: {len(box.messages)} waiting ({box.size} B){dropped}, "
                f"last call {now - box.seen:.1f} s ago"
            )
        return lines

    def _create(self, caller: Caller, now: float) -> list[str]:
        dropped = []
        if len(self._boxes) >= self.max_receivers:
            oldest = min(self._boxes.values(), key=lambda b: b.seen)
            dropped.append(self._drop(oldest, f"{self.max_receivers} receivers already"))
        watched = bool(caller.pid) and self._local(caller.host) and self._exists(caller.pid) is True
        self._boxes[caller.key] = Inbox(caller, now, watched)
        return dropped

    def _file(self, box: Inbox, message: ccdpc.Message) -> list[str]:
        box.messages.append(message)
        box.size += _size(message)
        self._count += 1
        self._size += _size(message)
        complaints = []
        while len(box.messages) > self.max_messages or box.size > self.max_bytes:
            complaints.append(self._drop_oldest(box))
        while self._size > self.max_bytes:
            complaints.append(self._drop_oldest(max(self._boxes.values(), key=lambda b: b.size)))
        return complaints

    def _drop_oldest(self, box: Inbox) -> str:
        old = box.messages.popleft()
        self._forget(box, old)
        box.dropped += 1
        who = f" of {box.caller.key}" if box.caller.key else ""
        return f"Receive queue{who} full: dropped {_brief(old)}"

    def _forget(self, box: Inbox, message: ccdpc.Message) -> None:
        box.size -= _size(message)
        self._count -= 1
        self._size -= _size(message)

    def _drop(self, box: Inbox, why: str) -> str:
        del self._boxes[box.caller.key]
        self._count -= len(box.messages)
        self._size -= box.size
        who = box.caller.key or "unidentified clients"
        return f"Inbox of {who} dropped ({why}): {len(box.messages)} messages, {box.size} B"


def _size(message: ccdpc.Message) -> int:
    return len(message.payload) if isinstance(message, ccdpc.Data) else len(message.text)


def _brief(message: ccdpc.Message) -> str:
    if isinstance(message, ccdpc.Data):
        return f"Data({len(message.payload)} bytes, seq={message.seq})"
    return repr(message)
