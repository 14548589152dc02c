"""What a connection hands to its user: replies, data and events, the same for every generation."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Data", "Event", "Message", "RawFrame", "Reply", "Status"]


class Status(enum.IntEnum):
    """The status of a reply, with the values generations 2 and 3 put on the wire."""

    OK = 0
    ERROR = 1
    BUSY = 2


@dataclass(frozen=True)
class Reply:
    """The answer to one command. `seq` is the command's sequence number (0 in generation 1)."""

    text: str
    status: Status = Status.OK
    seq: int = 0

    def __init__(self, text: str, status: Status = Status.OK, seq: int = 0) -> None:
        # What the generated one does, at half the cost: it sets each field through
        # `object.__setattr__`, to get past `frozen`, and a reply is made per command.
        fields = self.__dict__
        fields["text"] = text
        fields["status"] = status
        fields["seq"] = seq

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True)
class Data:
    """Raw bytes belonging to the reply before them (a frame). `payload` is the receive buffer."""

    payload: bytearray = field(repr=False)
    seq: int = 0

    def __repr__(self) -> str:
        return f"Data(<{len(self.payload)} bytes>, seq={self.seq})"


@dataclass(frozen=True)
class Event:
    """An unsolicited text from the control PC (generations 2 and 3)."""

    text: str
    seq: int = 0


Message = Reply | Data | Event


class RawFrame(NamedTuple):
    """One detector image: 16-bit unsigned pixels, little-endian, row-major, in `pixels`."""

    width: int
    height: int
    pixels: bytearray
