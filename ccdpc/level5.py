"""The generation 3 session layer ("level 5"), client side, sans-IO.

It numbers commands, keeps them until the server acknowledges them, drops duplicates, detects
gaps, decides when to acknowledge, and turns frames into messages. It never touches a socket: it
takes frames and returns the bytes to send, so every rule is testable without a network.
"""

from __future__ import annotations

from collections import OrderedDict

from .errors import SessionLost, protocolerror
from .gen3 import RETRANSMIT, Frame3, Type, encode_frame, reply_status
from .messages import Data, Event, Message, Reply

__all__ = ["ACK_EVERY", "ClientSession"]

#: Send an ACK frame once this many received reliable frames are unacknowledged.
ACK_EVERY = 8

_SERVER_RELIABLE = (Type.REPLY, Type.DATA, Type.EVENT)


class ClientSession:
    """The state of one session, surviving any number of connections."""

    def __init__(self) -> None:
        self.session = 0
        self.received = 0
        self._replies = 0
        self._next_seq = 1
        self._acked_to_peer = 0
        self._unacked: OrderedDict[int, bytes] = OrderedDict()

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
        self._next_seq += 1
        self._unacked[seq] = payload
        return seq, self._command(seq, payload, 0)

    def control_frame(self, type: Type, payload: bytes = b"") -> bytes:
        """A PING, ACK or CLOSE frame of this session."""
        self._acked_to_peer = self.received
        return encode_frame(type, payload, session=self.session, ack=self.received)

    def on_frame(self, frame: Frame3) -> tuple[Message | None, bytes | None]:
        """Take one frame from the server: the message to deliver (if any) and a frame to send back.

        Duplicates are dropped, a gap is a `protocolerror`, a CLOSE from the server an `error`.
        """
        if frame.session != self.session:
            raise protocolerror(f"Frame for session {frame.session} in session {self.session}")
        self._forget_acknowledged(frame.ack)
        if frame.type in _SERVER_RELIABLE:
            return self._reliable(frame)
        if frame.type is Type.PING:
            return None, encode_frame(
                Type.PONG, frame.payload, session=self.session, ack=self.received
            )
        if frame.type in (Type.PONG, Type.ACK):
            return None, None
        if frame.type is Type.CLOSE:
            raise SessionLost(f"The server closed session {self.session}: {_text(frame)}")
        raise protocolerror(f"Unexpected {frame.type.name} frame from the server")

    def _reliable(self, frame: Frame3) -> tuple[Message | None, bytes | None]:
        if frame.seq <= self.received:
            return None, None
        if frame.seq != self.received + 1:
            raise protocolerror(
                f"Gap in session {self.session}: frame {frame.seq} after {self.received}"
            )
        self.received = frame.seq
        # Replies come in command order, one each, so the n-th reply answers command n; a reply and
        # its data carry that command number, as in generation 2.
        message: Message
        if frame.type is Type.REPLY:
            self._replies += 1
            message = Reply(_text(frame), reply_status(frame.flags), self._replies)
        elif frame.type is Type.DATA:
            message = Data(frame.payload, self._replies)
        else:
            message = Event(_text(frame), frame.seq)
        due = frame.type is Type.DATA or self.received - self._acked_to_peer >= ACK_EVERY
        return message, self.control_frame(Type.ACK) if due else None

    def _command(self, seq: int, payload: bytes, flags: int) -> bytes:
        self._acked_to_peer = self.received
        return encode_frame(
            Type.COMMAND, payload, session=self.session, seq=seq, ack=self.received, flags=flags
        )

    def _forget_acknowledged(self, ack: int) -> None:
        while self._unacked and next(iter(self._unacked)) <= ack:
            self._unacked.popitem(last=False)


def _text(frame: Frame3) -> str:
    try:
        return frame.payload.decode("ascii")
    except UnicodeDecodeError:
        raise protocolerror(f"Text payload is not ASCII: {bytes(frame.payload[:80])!r}") from None
