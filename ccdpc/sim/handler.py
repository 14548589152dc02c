"""What a generation's server side looks like to the connection that runs it.

A handler is sans-IO: it is fed the bytes a client sent and hands `Outgoing` messages to its
`LinkContext`; it never touches a socket. The link (`ccdpc.sim.link`) owns the socket, the threads
and the faults. One handler class per generation, chosen from a table keyed by major version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Protocol

from .detector import Result
from .outgoing import Outgoing, Part
from .sessions import SessionTable

__all__ = ["REFUSAL", "Handler", "LinkContext", "Outgoing", "Part"]

#: The text of the refusal a second client gets (docs/protocol.md section 6).
REFUSAL = "another client is connected"


class LinkContext(Protocol):
    """What a handler may ask of the connection it serves."""

    @property
    def sessions(self) -> SessionTable:
        """The generation 3 sessions of this server run."""

    def send(self, out: Outgoing) -> None:
        """Queue messages for sending (never blocks)."""

    def command(self, payload: bytes, answer: Callable[[Result], None]) -> bool:
        """Execute a command and call `answer` with its result, under the server's lock, so the
        events it causes are queued after the reply. Returns False when a fault swallowed it
        (not executed, not answered)."""

    def set_event_sink(self, sink: Callable[[str], None]) -> None:
        """Send the detector's events to `sink` from now on."""

    def clear_event_sink(self, sink: Callable[[str], None]) -> None:
        """Stop sending events to `sink` (if it is still the one)."""


class Handler(ABC):
    """The server side of one generation on one connection."""

    #: Whether the server closes a connection that sent nothing for the idle timeout.
    idle_close: ClassVar[bool] = False
    #: The bytes of a reply's first message that the `header-only` fault sends.
    header_size: ClassVar[int]

    def __init__(self, link: LinkContext) -> None:
        self.link = link

    @staticmethod
    @abstractmethod
    def refusal() -> bytes:
        """The message a second client gets after the greeting, before it is closed."""

    @staticmethod
    @abstractmethod
    def huge_header(first: bytes) -> bytes:
        """A header like `first` (a reply's first message) announcing 64 MiB + 1 bytes."""

    @staticmethod
    def bad_crc(first: bytes) -> bytes:
        """`first` with a wrong CRC (generation 3 only; the others have no CRC)."""
        return first

    def start(self) -> None:  # noqa: B027 - an optional hook
        """This connection has become the controlling one (called under the server's lock)."""

    @abstractmethod
    def feed(self, data: bytes) -> None:
        """Take bytes from the client (called under the server's lock)."""

    def lost(self) -> None:  # noqa: B027 - an optional hook
        """The connection is closed or closing (called under the server's lock)."""
