"""Generation 1 framing: fixed 80-byte records (`StandardCCDPC`). Pure functions, both directions.

A reply record starts with ``OK ``, ``ER `` or ``DA <n> ``; a ``DA`` record is followed by exactly
n raw bytes. The decoder presents it as a `Reply` (the record's description) then a `Data`.
"""

from __future__ import annotations

import re

from . import config
from .errors import protocolerror
from .messages import Data, Message, Reply, Status
from .reader import UnitReader

__all__ = [
    "RECORD_SIZE",
    "ReplyDecoder",
    "decode_record",
    "encode_data",
    "encode_record",
    "encode_reply",
]

RECORD_SIZE = 80
_DATA = re.compile(rb"DA ([0-9]{1,20})(?: (.*))?")


def encode_record(text: bytes | str) -> bytes:
    """One record: `text` right-padded with spaces. Over 80 bytes or not ASCII: `ValueError`."""
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if len(raw) > RECORD_SIZE:
        raise ValueError(f"a generation 1 record holds {RECORD_SIZE} bytes, not {len(raw)}")
    if not raw.isascii():
        raise ValueError(f"a generation 1 record is ASCII: {raw!r}")
    return raw.ljust(RECORD_SIZE, b" ")


def decode_record(record: bytes | bytearray) -> str:
    """The text of a record, trailing spaces removed; not ASCII: `protocolerror`."""
    raw = bytes(record)
    if len(raw) != RECORD_SIZE or not raw.isascii():
        raise protocolerror(f"Invalid record {raw!r}", raw, RECORD_SIZE)
    return raw.rstrip(b" ").decode("ascii")


def encode_reply(text: str, status: Status = Status.OK) -> bytes:
    """The server's reply record; a busy reply is an ``ER BUSY ...`` record in generation 1."""
    if status is Status.OK:
        return encode_record(f"OK {text}")
    if status is Status.BUSY:
        return encode_record(f"ER BUSY {text}")
    return encode_record(f"ER {text}")


def encode_data(description: str, size: int) -> bytes:
    """The ``DA <size> <description>`` record; the `size` payload bytes follow it."""
    return encode_record(f"DA {size} {description}")


class ReplyDecoder(UnitReader[Message]):
    """Client side: reply records and the data that follows ``DA`` records."""

    def __init__(self, max_payload: int | None = None) -> None:
        super().__init__(RECORD_SIZE)
        self.max_payload = config.maxpacketsize if max_payload is None else max_payload
        self._payload_follows = False

    def whole(self, buffer: bytearray, start: int, end: int) -> tuple[Message, int] | None:
        stop = start + RECORD_SIZE
        if stop > end:
            return None
        unit = buffer[start:stop]
        reply = _reply(unit) if unit.isascii() else None
        return None if reply is None else (reply, stop)  # None: a data record, or an invalid one

    def _unit(self, unit: bytearray) -> tuple[int, bool]:
        if self._payload_follows:
            self._payload_follows = False
            self._events.append(Data(unit))
            return RECORD_SIZE, True
        if not unit.isascii():
            decode_record(unit)  # raises the error for a record that is not text
        reply = _reply(unit)
        if reply is not None:
            self._events.append(reply)
        elif unit.startswith(b"DA "):
            return self._data_record(unit)
        else:
            raise protocolerror(f"Invalid reply record {bytes(unit)!r}", bytes(unit), RECORD_SIZE)
        return RECORD_SIZE, True

    def _data_record(self, unit: bytearray) -> tuple[int, bool]:
        match = _DATA.fullmatch(unit.rstrip(b" "))
        if match is None:
            raise protocolerror(f"Invalid data record {bytes(unit)!r}", bytes(unit), RECORD_SIZE)
        size = int(match[1])
        if size > self.max_payload:
            raise protocolerror(
                f"Data record announces {size} bytes, over the limit of {self.max_payload}",
                bytes(unit),
                RECORD_SIZE,
            )
        self._events.append(Reply((match[2] or b"").decode("ascii")))
        if size == 0:
            self._events.append(Data(bytearray()))
            return RECORD_SIZE, True
        self._payload_follows = True
        return size, False


def _reply(record: bytearray) -> Reply | None:
    """The reply an ASCII ``OK `` or ``ER `` record holds; None for any other record."""
    if record.startswith(b"OK "):
        return Reply(record[3:].rstrip(b" ").decode("ascii"))
    if record.startswith(b"ER "):
        text = record[3:].rstrip(b" ").decode("ascii")
        return Reply(text, Status.BUSY if text.startswith("BUSY") else Status.ERROR)
    return None
