"""Generation 2 server side: 12-byte headers; replies echo the command's sequence number."""

from __future__ import annotations

from functools import partial

from ..errors import protocolerror
from ..gen2 import HEADER, HEADER_SIZE, PacketDecoder, Type, encode_header, encode_packet
from ..messages import Status
from .detector import Result
from .faults import HUGE_LENGTH
from .handler import REFUSAL, Handler, LinkContext, Outgoing

__all__ = ["Gen2Handler"]


class Gen2Handler(Handler):
    """Commands are type 1 messages; events carry the connection's own counter 1, 2, 3, ..."""

    header_size = HEADER_SIZE

    def __init__(self, link: LinkContext) -> None:
        super().__init__(link)
        self._decoder = PacketDecoder()
        self._events = 0
        self._broken = False

    @staticmethod
    def refusal() -> bytes:
        return encode_packet(Type.REPLY, REFUSAL.encode("ascii"), seq=0, status=Status.BUSY)

    @staticmethod
    def huge_header(first: bytes) -> bytes:
        _, type_, status, seq = HEADER.unpack(first[:HEADER_SIZE])
        return HEADER.pack(HUGE_LENGTH, type_, status, seq)

    def start(self) -> None:
        self.link.set_event_sink(self._event)

    def lost(self) -> None:
        self.link.clear_event_sink(self._event)

    def feed(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            self._decoder.feed(data)
        except protocolerror:
            self._break()
        while (packet := self._decoder.next_event()) is not None and not self._broken:
            if packet.type is not Type.COMMAND:
                # Generation 2 has no way to report a framing error: hang up, as the PC does.
                self._break()
                return
            self.link.command(bytes(packet.payload), partial(self._answer, seq=packet.seq))

    def _break(self) -> None:
        self._broken = True
        self.link.send(Outgoing([], close_after=True))

    def _answer(self, result: Result, seq: int) -> None:
        text = result.text.encode("ascii")
        messages = [(encode_header(Type.REPLY, result.status, seq, len(text)), text)]
        if result.data is not None:
            messages.append(
                (encode_header(Type.DATA, Status.OK, seq, len(result.data)), result.data)
            )
        self.link.send(Outgoing(messages, reply=True))

    def _event(self, text: str) -> None:
        self._events = self._events % 0xFFFFFFFF + 1
        self.link.send(Outgoing([(encode_packet(Type.EVENT, text.encode("ascii"), self._events),)]))
