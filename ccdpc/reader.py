"""A sans-IO reader that cuts a byte stream into units whose sizes the framing decides.

Each generation's decoder says how big the next unit is (a record, a header, a payload); bytes
are fed in whatever chunks arrive, and whole units come out. When a chunk is exactly the unit
awaited, it is passed on without a copy: that is how a 2.86 MB frame from `recvfixed` reaches
the user. A reader that receives exactly `needed()` bytes at a time hands them to `take`, the
short way: no buffering, and the message they complete, if any, comes back at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["HeaderReader", "UnitReader"]

T = TypeVar("T")
H = TypeVar("H", bound="Sized")

Buffer = bytes | bytearray | memoryview


class Sized(Protocol):
    """A decoded header: it knows the length of the payload after it."""

    @property
    def length(self) -> int: ...


class UnitReader(ABC, Generic[T]):
    """Base of the decoders: `feed(bytes)`, then `next_event()` until it returns None."""

    #: The checksum a payload carries (a CRC-32 in generation 3), or None. A reader that
    #: computes it while a payload arrives passes the result to `feed`, which then trusts it.
    checksum: Callable[[Buffer, int], int] | None = None

    def __init__(self, first_unit: int) -> None:
        #: The size of the unit awaited: what `take` wants (`needed` counts what was fed of it).
        self.unit_size = first_unit
        self._buffer = bytearray()
        self._events: deque[T] = deque()
        self._at_boundary = True
        self._units: list[bytearray] = []
        self._given_checksum: int | None = None

    def needed(self) -> int:
        """How many more bytes complete the current unit (always at least 1)."""
        return self.unit_size - len(self._buffer)

    def idle(self) -> bool:
        """True between messages: no event waiting, and nothing of the next message fed."""
        return not self._events and self._at_boundary and not self._buffer

    @property
    def mid_message(self) -> bool:
        """True while a message is partly received: its rest must come within the packet timeout."""
        return bool(self._buffer) or not self._at_boundary

    def received(self) -> bytes:
        """The bytes of the message under way (complete units and the current one's start)."""
        return b"".join(self._units) + self._buffer

    def expected(self) -> int:
        """The size of the message under way, as far as its units so far tell."""
        return sum(map(len, self._units)) + self.unit_size

    def take(self, unit: bytearray, checksum: int | None = None) -> T | None:
        """Take a whole unit (exactly `needed()` bytes, none of them fed before); return the next
        message, or None if the unit did not complete one (then a message is under way).

        `checksum` is as for `feed`. Raises the framing's `protocolerror` on a violation.
        """
        self._complete(unit, checksum)
        events = self._events
        return events.popleft() if events else None

    def feed(self, data: Buffer, checksum: int | None = None) -> None:
        """Take received bytes; raises the framing's `protocolerror` on a violation.

        `checksum` is `self.checksum` of `data`, computed by the caller; it is used only when
        `data` is exactly the unit awaited.
        """
        if isinstance(data, bytearray) and not self._buffer and len(data) == self.unit_size:
            self._complete(data, checksum)
            return
        view = memoryview(data).cast("B")
        while view:
            take = view[: self.unit_size - len(self._buffer)]
            self._buffer += take
            view = view[len(take) :]
            if len(self._buffer) == self.unit_size:
                unit, self._buffer = self._buffer, bytearray()
                self._complete(unit)

    def next_event(self) -> T | None:
        """The next decoded message, or None if more bytes are needed."""
        return self._events.popleft() if self._events else None

    def whole(self, buffer: bytearray, start: int, end: int) -> tuple[T, int] | None:
        """The message that `buffer[start:end]` begins with, if it holds all of it and it is
        valid, and the offset after it; else None. Only between messages (not `mid_message`, no
        event waiting); the reader itself is left as it was.

        A short cut past the units for the common case of a small message received at once: what
        it returns None for goes through `take` as usual, which raises for an invalid message.
        """
        return None

    def _complete(self, unit: bytearray, checksum: int | None = None) -> None:
        """Handle a whole unit; `checksum`, if given, is its checksum, for `_unit` to use."""
        if checksum is None:
            self.unit_size, at_boundary = self._unit(unit)
        else:
            self._given_checksum = checksum
            try:
                self.unit_size, at_boundary = self._unit(unit)
            finally:
                self._given_checksum = None
        self._at_boundary = at_boundary
        if at_boundary:
            self._units.clear()
        else:
            self._units.append(unit)

    @abstractmethod
    def _unit(self, unit: bytearray) -> tuple[int, bool]:
        """Handle a complete unit; return the next unit's size and whether it starts a message.

        A unit that ends a message emits at least one event: `take` relies on it.
        """


class HeaderReader(UnitReader[T], Generic[H, T]):
    """Messages of a fixed-size header and the payload it announces (generations 2 and 3)."""

    def __init__(self, header_size: int, max_payload: int) -> None:
        super().__init__(header_size)
        self.header_size = header_size
        self.max_payload = max_payload
        self._header: H | None = None

    @abstractmethod
    def _decode_header(self, unit: bytearray) -> H:
        """Check and unpack a header (its length against `max_payload` first)."""

    @abstractmethod
    def _message(self, header: H, payload: bytearray) -> T:
        """The message of a header and its payload, checked."""

    def _unit(self, unit: bytearray) -> tuple[int, bool]:
        header = self._header
        if header is None:
            header = self._decode_header(unit)
            if header.length:
                self._header = header
                return header.length, False
            unit = bytearray()
        self._header = None
        self._events.append(self._message(header, unit))
        return self.header_size, True
