"""`StandardCCDPC`: generation 1, fixed 80-byte records."""

from __future__ import annotations

import socket
from typing import Any

from .connection import Connection
from .gen1 import RECORD_SIZE, ReplyDecoder, encode_record
from .messages import Message

__all__ = ["StandardCCDPC"]


class StandardCCDPC(Connection):
    """Generation 1: every command and reply is one 80-byte record; data follows ``DA`` records.

    There are no sequence numbers and no events: the next reply is the reply.
    """

    protocol_version = 1
    _decoder: ReplyDecoder

    def __init__(
        self, sock: socket.socket, host: str, port: int, version: tuple[int, int], **kw: Any
    ) -> None:
        super().__init__(sock, host, port, version, **kw)
        self._decoder = ReplyDecoder(self.max_payload)

    def _send_command(self, payload: bytes) -> int:
        if len(payload) > RECORD_SIZE or not payload.isascii():
            encode_record(payload)  # raises the error
        self._write(payload.ljust(RECORD_SIZE, b" "))  # `encode_record`, inline
        return 0

    def _read_message(self, deadline: float) -> Message:
        return self._next_event(self._decoder, deadline)
