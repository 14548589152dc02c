"""The generation 3 session layer ("level 5"), client side, sans-IO.

It numbers commands, keeps them until the server acknowledges them, drops duplicates, detects
gaps, decides when to acknowledge, and turns frames into messages. It never touches a socket: it
takes frames and returns the bytes to send, so every rule is testable without a network.
"""

from __future__ import annotations

from . import checksum
from .errors import SessionLost, protocolerror
from .gen3 import (
    HEADER,
    MAGIC,
    RETRANSMIT,
    Frame3,
    Type,
    encode_frame,
    reply_status,
    status_flags,
)
from .messages import Data, Event, Message, Reply, Status

__all__ = ["ACK_EVERY", "ClientSession"]

#: Send an ACK frame once this many received reliable frames are unacknowledged.
ACK_EVERY = 8

_SERVER_RELIABLE = (Type.REPLY, Type.DATA, Type.EVENT)
_STATUS_BITS = status_flags(Status.ERROR) | status_flags(Status.BUSY)
_pack = HEADER.pack
_COMMAND = int(Type.COMMAND)
# For the usual case, from globals: reading an enum member is slow.
_REPLY = Type.REPLY
_OK = Status.OK


class ClientSession:
    """The state of one session, surviving any number of connections."""

    def __init__(self) -> None:
        self.session = 0
        self.received = 0
        self._replies = 0
        self._next_seq = 1
        self._acked_to_peer = 0
        # Commands by sequence number, in order (a dict keeps its insertion order).
        self._unacked: dict[int, bytes] = {}

    @property
    def unacknowledged(self) -> int:
        """How many commands the server has not acknowledged yet."""
        return len(self._unacked)

    def open_frame(self) -> bytes:
        """OPEN: a new session (id 0) or a resume of this one, acknowledging what arrived."""
        self._acked_to_peer = self.received
        return encode_frame(Type.OPEN, session=self.session, ack=self.received)

    def on_opened(self, frame: Frame3) -> list[bytes]:
        """Take the OPENED frame; return the commands the server has not seen, to send again."""
        if frame.type is Type.CLOSE:
            reason = _text(frame)
            if self.session:
                raise SessionLost(f"session {self.session} lost: {reason}")
            raise SessionLost(f"The server refused the session: {reason}")
        if frame.type is not Type.OPENED or frame.session == 0:
            raise protocolerror(f"Expected OPENED, got {frame.type.name} (session {frame.session})")
        if self.session and frame.session != self.session:
            raise protocolerror(f"Resumed session {self.session}, server opened {frame.session}")
        self.session = frame.session
        self._forget_acknowledged(frame.ack)
        return [self._command(seq, payload, RETRANSMIT) for seq, payload in self._unacked.items()]

    def command_frame(self, payload: bytes) -> tuple[int, bytes]:
        """Number a command and keep it until acknowledged; return its sequence and its frame."""
        seq = self._next_seq
        self._next_seq = seq + 1
        self._unacked[seq] = payload
        # `_command`, inlined: this is the path of every command.
        self._acked_to_peer = received = self.received
        size, crc = len(payload), checksum.crc32(payload)
        return seq, _pack(MAGIC, _COMMAND, 0, self.session, seq, received, size, crc) + payload

    def control_frame(self, type: Type, payload: bytes = b"") -> bytes:
        """A PING, ACK or CLOSE frame of this session."""
        self._acked_to_peer = self.received
        return encode_frame(type, payload, session=self.session, ack=self.received)

    def on_frame(self, frame: Frame3) -> tuple[Message | None, bytes | None]:
        """Take one frame from the server: the message to deliver (if any) and a frame to send back.

        Duplicates are dropped, a gap is a `protocolerror`, a CLOSE from the server an `error`.
        """
        kind, flags, session, seq, ack, payload = frame
        if session != self.session:
            raise protocolerror(f"Frame for session {session} in session {self.session}")
        unacked = self._unacked
        if unacked:
            if ack >= self._next_seq - 1:  # all of them: the usual case
                unacked.clear()
            else:
                self._forget_acknowledged(ack)
        if kind is _REPLY and seq == self.received + 1:  # the usual case, without `_reliable`
            self.received = seq
            # Replies come in command order, one each, so the n-th reply answers command n; a
            # reply and its data carry that command number, as in generation 2.
            self._replies = replies = self._replies + 1
            status = _OK if not flags & _STATUS_BITS else reply_status(flags)
            try:
                text = payload.decode("ascii")
            except UnicodeDecodeError:
                text = _text(frame)  # raises the error
            message = Reply(text, status, replies)
            if seq - self._acked_to_peer >= ACK_EVERY:
                return message, self.control_frame(Type.ACK)
            return message, None
        if kind in _SERVER_RELIABLE:
            return self._reliable(frame, kind)
        if kind is Type.PING:
            return None, encode_frame(
                Type.PONG, frame.payload, session=self.session, ack=self.received
            )
        if kind is Type.PONG or kind is Type.ACK:
            return None, None
        if kind is Type.CLOSE:
            raise SessionLost(f"The server closed session {self.session}: {_text(frame)}")
        raise protocolerror(f"Unexpected {kind.name} frame from the server")

    def _reliable(self, frame: Frame3, kind: Type) -> tuple[Message | None, bytes | None]:
        """A reliable frame other than the next reply (`on_frame` takes that): a duplicate is
        dropped, a gap is an error, else the data (acknowledged at once) or the event."""
        seq = frame.seq
        if seq <= self.received:
            return None, None
        if seq != self.received + 1:
            raise protocolerror(f"Gap in session {self.session}: frame {seq} after {self.received}")
        self.received = seq
        if kind is Type.DATA:
            return Data(frame.payload, self._replies), self.control_frame(Type.ACK)
        message = Event(_text(frame), seq)
        if seq - self._acked_to_peer >= ACK_EVERY:
            return message, self.control_frame(Type.ACK)
        return message, None

    def _command(self, seq: int, payload: bytes, flags: int) -> bytes:
        self._acked_to_peer = received = self.received
        size, crc = len(payload), checksum.crc32(payload)
        return _pack(MAGIC, _COMMAND, flags, self.session, seq, received, size, crc) + payload

    def _forget_acknowledged(self, ack: int) -> None:
        unacked = self._unacked
        while unacked and (first := next(iter(unacked))) <= ack:
            del unacked[first]


def _text(frame: Frame3) -> str:
    try:
        return frame.payload.decode("ascii")
    except UnicodeDecodeError:
        raise protocolerror(f"Text payload is not ASCII: {bytes(frame.payload[:80])!r}") from None
