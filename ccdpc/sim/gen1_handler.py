"""Generation 1 server side: 80-byte command records in, ``OK``/``ER``/``DA`` records out."""

from __future__ import annotations

from ..gen1 import RECORD_SIZE, encode_data, encode_reply
from ..messages import Status
from .detector import FULL, Result
from .faults import HUGE_LENGTH
from .handler import REFUSAL, Handler, LinkContext, Outgoing

__all__ = ["Gen1Handler"]

_PREFIX = {Status.OK: len("OK "), Status.ERROR: len("ER "), Status.BUSY: len("ER BUSY ")}


class Gen1Handler(Handler):
    """Every command is one record: its text is the record without trailing spaces. No events."""

    #: A record has no header: its status word (``OK ``, ``ER `` or ``DA ``) comes nearest.
    header_size = 3

    def __init__(self, link: LinkContext) -> None:
        super().__init__(link)
        self._buffer = bytearray()

    @staticmethod
    def refusal() -> bytes:
        return encode_reply(REFUSAL, Status.BUSY)

    @staticmethod
    def huge_header(first: bytes) -> bytes:
        return encode_data(f"FRAME {FULL[0]} {FULL[1]}", HUGE_LENGTH)

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= RECORD_SIZE:
            record = bytes(self._buffer[:RECORD_SIZE])
            del self._buffer[:RECORD_SIZE]
            self.link.command(record.rstrip(b" "), self._answer)

    def _answer(self, result: Result) -> None:
        if result.data is None:
            # A record holds 80 bytes: a long error text (an unknown 70-letter word) is cut.
            text = result.text[: RECORD_SIZE - _PREFIX[result.status]]
            self.link.send(Outgoing([(encode_reply(text, result.status),)], reply=True))
            return
        record = encode_data(result.text, len(result.data))
        self.link.send(Outgoing([(record,), (result.data,)], reply=True))
