"""Generation 3 framing: a 24-byte header ``struct "<2sBBIIIII"`` with a CRC-32 of the payload.

Pure functions and a sans-IO decoder for both ends. The session rules (sequence numbers,
acknowledgements, resume) live in `ccdpc.level5`.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from . import checksum as crc
from . import config
from .checksum import Crc32
from .errors import protocolerror
from .messages import Status
from .reader import HeaderReader

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "MAGIC",
    "RETRANSMIT",
    "Frame3",
    "FrameDecoder",
    "Header3",
    "Type",
    "decode_header",
    "encode_frame",
    "encode_header",
    "reply_status",
    "status_flags",
]

HEADER = struct.Struct("<2sBBIIIII")
HEADER_SIZE = HEADER.size
_unpack_from = HEADER.unpack_from
MAGIC = b"C3"
RETRANSMIT = 0x01
_STATUS_SHIFT = 1
_STATUS_MASK = 0x06


class Type(enum.IntEnum):
    OPEN = 1
    OPENED = 2
    COMMAND = 3
    REPLY = 4
    DATA = 5
    EVENT = 6
    ACK = 7
    PING = 8
    PONG = 9
    CLOSE = 10

    @property
    def reliable(self) -> bool:
        """Reliable frames are numbered, kept until acknowledged, and sent again after a resume."""
        return self in (Type.COMMAND, Type.REPLY, Type.DATA, Type.EVENT)


# Lookups by value: calling an enum class is slow, and a header is decoded per frame.
_TYPES = {int(t): t for t in Type}
_STATUSES = {int(s): s for s in Status}
# How `NamedTuple._make` builds one, without the Python-level `__new__` and its argument parsing.
_new = tuple.__new__


class Header3(NamedTuple):
    type: Type
    flags: int
    session: int
    seq: int
    ack: int
    length: int
    crc: int


class Frame3(NamedTuple):
    """One generation 3 frame as on the wire, its CRC already checked."""

    type: Type
    flags: int
    session: int
    seq: int
    ack: int
    payload: bytearray

    def __repr__(self) -> str:
        return (
            f"Frame3(type={self.type!r}, flags={self.flags}, session={self.session}, "
            f"seq={self.seq}, ack={self.ack}, <{len(self.payload)} bytes>)"
        )


def status_flags(status: Status) -> int:
    """The flag bits that carry a reply's status."""
    return int(status) << _STATUS_SHIFT


def reply_status(flags: int) -> Status:
    value = (flags & _STATUS_MASK) >> _STATUS_SHIFT
    status = _STATUSES.get(value)
    if status is None:
        raise protocolerror(f"Invalid reply status {value} in flags 0x{flags:02x}")
    return status


def encode_header(
    type: Type,
    payload: bytes | bytearray | memoryview,
    *,
    session: int = 0,
    seq: int = 0,
    ack: int = 0,
    flags: int = 0,
) -> bytes:
    """The header of a frame carrying `payload` (its length and CRC are computed here)."""
    return HEADER.pack(MAGIC, type, flags, session, seq, ack, len(payload), crc.crc32(payload))


def encode_frame(
    type: Type,
    payload: bytes | bytearray = b"",
    *,
    session: int = 0,
    seq: int = 0,
    ack: int = 0,
    flags: int = 0,
) -> bytes:
    """Header and payload in one buffer."""
    return encode_header(type, payload, session=session, seq=seq, ack=ack, flags=flags) + payload


def decode_header(data: bytes | bytearray, max_payload: int | None = None) -> Header3:
    """Check and unpack a header; the length is checked before anything is allocated for it."""
    limit = config.maxpacketsize if max_payload is None else max_payload
    magic, type_, flags, session, seq, ack, length, crc = HEADER.unpack(data)
    if magic != MAGIC:
        raise protocolerror(
            f"Wrong magic in frame header {bytes(data)!r}", bytes(data), HEADER_SIZE
        )
    if length > limit:
        raise protocolerror(
            f"Frame announces {length} bytes, over the limit of {limit}: {bytes(data)!r}",
            bytes(data),
            HEADER_SIZE,
        )
    kind = _TYPES.get(type_)
    if kind is None:
        raise protocolerror(
            f"Unknown frame type {type_}: {bytes(data)!r}", bytes(data), HEADER_SIZE
        )
    return _new(Header3, (kind, flags, session, seq, ack, length, crc))


class FrameDecoder(HeaderReader[Header3, Frame3]):
    """Cuts a stream into `Frame3` objects: header checked before the payload, CRC after it."""

    checksum: Crc32

    def __init__(self, max_payload: int | None = None) -> None:
        super().__init__(HEADER_SIZE, config.maxpacketsize if max_payload is None else max_payload)
        self.checksum = crc.crc32  # the one in use when the decoder is made

    def whole(self, buffer: bytearray, start: int, end: int) -> tuple[Frame3, int] | None:
        if end - start < HEADER_SIZE:
            return None
        magic, type_, flags, session, seq, ack, length, crc = _unpack_from(buffer, start)
        stop = start + HEADER_SIZE + length
        if stop > end or length > self.max_payload or magic != MAGIC:
            return None
        kind = _TYPES.get(type_)
        payload = buffer[start + HEADER_SIZE : stop]
        if kind is None or self.checksum(payload) != crc:
            return None
        return _new(Frame3, (kind, flags, session, seq, ack, payload)), stop

    def _decode_header(self, unit: bytearray) -> Header3:
        return decode_header(unit, self.max_payload)

    def _message(self, header: Header3, payload: bytearray) -> Frame3:
        crc = self.checksum(payload) if self._given_checksum is None else self._given_checksum
        if crc != header.crc:
            raise protocolerror(
                f"Bad CRC in {header.type.name} frame seq {header.seq}: "
                f"header says 0x{header.crc:08x}, payload has 0x{crc:08x}",
                bytes(payload),
                header.length,
            )
        return _new(Frame3, (*header[:5], payload))
