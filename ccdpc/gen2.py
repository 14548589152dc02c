"""Generation 2 framing: a 12-byte header ``struct "<IHHI"`` then the payload (`NewCCDPC`).

Pure functions and a sans-IO decoder, usable on both ends: the client decodes replies, data and
events into messages; the server decodes commands.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from . import config
from .errors import protocolerror
from .messages import Data, Event, Message, Reply, Status
from .reader import HeaderReader

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "Header",
    "Packet",
    "PacketDecoder",
    "Type",
    "decode_header",
    "encode_header",
    "encode_packet",
    "to_message",
]

HEADER = struct.Struct("<IHHI")
HEADER_SIZE = HEADER.size
_unpack_from = HEADER.unpack_from


class Type(enum.IntEnum):
    COMMAND = 1
    REPLY = 2
    DATA = 3
    EVENT = 4


# Lookups by value: calling an enum class is slow, and a header is decoded per message.
_TYPES = {int(t): t for t in Type}
_STATUSES = {int(s): s for s in Status}
# How `NamedTuple._make` builds one, without the Python-level `__new__` and its argument parsing.
_new = tuple.__new__


class Header(NamedTuple):
    length: int
    type: Type
    status: Status
    seq: int


class Packet(NamedTuple):
    """One generation 2 message as on the wire."""

    type: Type
    status: Status
    seq: int
    payload: bytearray

    def __repr__(self) -> str:
        return (
            f"Packet(type={self.type!r}, status={self.status!r}, seq={self.seq}, "
            f"<{len(self.payload)} bytes>)"
        )


def encode_header(type: Type, status: Status, seq: int, length: int) -> bytes:
    return HEADER.pack(length, type, status, seq)


def encode_packet(
    type: Type, payload: bytes | bytearray = b"", seq: int = 0, status: Status = Status.OK
) -> bytes:
    """Header and payload in one buffer (for small messages; large ones send the two apart)."""
    return encode_header(type, status, seq, len(payload)) + payload


def decode_header(data: bytes | bytearray, max_payload: int | None = None) -> Header:
    """Check and unpack a header; the length is checked before anything is allocated for it."""
    limit = config.maxpacketsize if max_payload is None else max_payload
    length, type_, status, seq = HEADER.unpack(data)
    if length > limit:
        raise protocolerror(
            f"Header announces {length} bytes, over the limit of {limit}: {bytes(data)!r}",
            bytes(data),
            HEADER_SIZE,
        )
    kind, state = _TYPES.get(type_), _STATUSES.get(status)
    if kind is None or state is None:
        raise protocolerror(
            f"Invalid header (type {type_}, status {status}): {bytes(data)!r}",
            bytes(data),
            HEADER_SIZE,
        )
    return _new(Header, (length, kind, state, seq))


def to_message(packet: Packet) -> Message:
    """What a client makes of a packet from the server; a command from the server is an error."""
    if packet.type is Type.REPLY:
        return Reply(_text(packet), packet.status, packet.seq)
    if packet.type is Type.DATA:
        return Data(packet.payload, packet.seq)
    if packet.type is Type.EVENT:
        return Event(_text(packet), packet.seq)
    raise protocolerror(f"The server sent a command packet (seq {packet.seq})")


def _text(packet: Packet) -> str:
    try:
        return packet.payload.decode("ascii")
    except UnicodeDecodeError:
        raise protocolerror(
            f"Text payload is not ASCII: {bytes(packet.payload[:80])!r}", bytes(packet.payload)
        ) from None


class PacketDecoder(HeaderReader[Header, Packet]):
    """Cuts a stream into `Packet` objects, checking every header before its payload."""

    def __init__(self, max_payload: int | None = None) -> None:
        super().__init__(HEADER_SIZE, config.maxpacketsize if max_payload is None else max_payload)

    def whole(self, buffer: bytearray, start: int, end: int) -> tuple[Packet, int] | None:
        if end - start < HEADER_SIZE:
            return None
        length, type_, status, seq = _unpack_from(buffer, start)
        stop = start + HEADER_SIZE + length
        if stop > end or length > self.max_payload:
            return None
        kind, state = _TYPES.get(type_), _STATUSES.get(status)
        if kind is None or state is None:
            return None
        return _new(Packet, (kind, state, seq, buffer[start + HEADER_SIZE : stop])), stop

    def _decode_header(self, unit: bytearray) -> Header:
        return decode_header(unit, self.max_payload)

    def _message(self, header: Header, payload: bytearray) -> Packet:
        return _new(Packet, (*header[1:], payload))
