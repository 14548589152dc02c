"""Generation 3 server side: the level 5 session protocol (open, resume, ack, ping, close)."""

from __future__ import annotations

from ..errors import protocolerror
from ..gen3 import HEADER, HEADER_SIZE, Frame3, FrameDecoder, Type, encode_frame, status_flags
from .detector import Result
from .faults import HUGE_LENGTH
from .handler import REFUSAL, Handler, LinkContext, Outgoing
from .sessions import Session

__all__ = ["Gen3Handler"]


class Gen3Handler(Handler):
    """One connection of a session: the first frame must be OPEN (new or resume); after it,
    commands are executed once each, in sequence order, and every frame carries the `ack`."""

    idle_close = True
    header_size = HEADER_SIZE

    def __init__(self, link: LinkContext) -> None:
        super().__init__(link)
        self._decoder = FrameDecoder()
        self._session: Session | None = None
        self._done = False
        # A fault swallowed a command: those after it are not executed on this connection either
        # (they would be a gap), but sent again, with it, by the client's resume.
        self._swallowed = False

    @staticmethod
    def refusal() -> bytes:
        return encode_frame(Type.CLOSE, f"busy: {REFUSAL}".encode("ascii"))

    @staticmethod
    def huge_header(first: bytes) -> bytes:
        magic, type_, flags, session, seq, ack, _, _ = HEADER.unpack(first[:HEADER_SIZE])
        return HEADER.pack(magic, type_, flags, session, seq, ack, HUGE_LENGTH, 0)

    @staticmethod
    def bad_crc(first: bytes) -> bytes:
        magic, type_, flags, session, seq, ack, length, crc = HEADER.unpack(first[:HEADER_SIZE])
        header = HEADER.pack(magic, type_, flags, session, seq, ack, length, crc ^ 0xFFFFFFFF)
        return header + first[HEADER_SIZE:]

    def feed(self, data: bytes) -> None:
        if self._done:
            return
        try:
            self._decoder.feed(data)
        except protocolerror as exc:
            self._violation(str(exc))
        while not self._done and (frame := self._decoder.next_event()) is not None:
            if self._session is None:
                self._open(frame)
            else:
                self._in_session(self._session, frame)

    def lost(self) -> None:
        if self._session is not None:
            self._session.detach(self.link.send)

    def _open(self, frame: Frame3) -> None:
        if frame.type is not Type.OPEN:
            self._violation(f"expected OPEN, got {frame.type.name}")
            return
        if frame.session == 0:
            session, how = self.link.sessions.new(), b"new"
        else:
            found = self.link.sessions.find(frame.session)
            if found is None:
                reason = f"unknown session {frame.session}".encode("ascii")
                self._finish(encode_frame(Type.CLOSE, reason, session=frame.session))
                return
            session, how = found, b"resumed"
            session.acknowledge(frame.ack)
        self._session = session
        session.attach(self.link.send)
        self.link.set_event_sink(session.event)
        self.link.send(Outgoing([(session.control(Type.OPENED, how),)]))
        # Everything the client has not acknowledged, before anything new: nothing is lost, and
        # the client drops what it already had.
        again = session.retransmissions()
        if again:
            self.link.send(Outgoing(again))

    def _in_session(self, session: Session, frame: Frame3) -> None:
        if frame.session != session.id:
            self._violation(f"frame for session {frame.session} in session {session.id}")
            return
        session.acknowledge(frame.ack)
        if frame.type is Type.COMMAND:
            self._command(session, frame)
        elif frame.type is Type.PING:
            self.link.send(Outgoing([(session.control(Type.PONG, bytes(frame.payload)),)]))
        elif frame.type is Type.CLOSE:
            self._end(session)
            self._finish(session.control(Type.CLOSE))
        elif frame.type is not Type.ACK:
            self._violation(f"unexpected {frame.type.name} frame from a client")

    def _command(self, session: Session, frame: Frame3) -> None:
        if frame.seq <= session.received or self._swallowed:
            return  # a duplicate after a resume (executed already), or one behind a swallowed one
        if frame.seq != session.received + 1:
            self._violation(f"command {frame.seq} after {session.received}")
            return

        def answer(result: Result) -> None:
            session.received = frame.seq
            messages = [
                session.reliable(
                    Type.REPLY, result.text.encode("ascii"), status_flags(result.status)
                )
            ]
            if result.data is not None:
                messages.append(session.reliable(Type.DATA, result.data))
            self.link.send(Outgoing(messages, reply=True))

        self._swallowed = not self.link.command(bytes(frame.payload), answer)

    def _violation(self, message: str) -> None:
        """A client that breaks the protocol gets CLOSE with the reason; the session ends."""
        session = self._session
        reason = f"protocol error: {message}"[:4096].encode("ascii", "replace")
        if session is None:
            self._finish(encode_frame(Type.CLOSE, reason))
            return
        self._end(session)
        self._finish(session.control(Type.CLOSE, reason))

    def _end(self, session: Session) -> None:
        self.link.clear_event_sink(session.event)
        self.link.sessions.forget(session)
        session.detach(self.link.send)

    def _finish(self, frame: bytes) -> None:
        self._done = True
        self.link.send(Outgoing([(frame,)], close_after=True))
