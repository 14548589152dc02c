"""`NewCCDPC`: generation 2, 12-byte headers with type, status and sequence number."""

from __future__ import annotations

import socket
from typing import Any

from .connection import Connection
from .errors import error, protocolerror
from .gen2 import PacketDecoder, Type, encode_header, to_message
from .messages import Message, Reply, Status

__all__ = ["NewCCDPC"]

#: Commands over this many bytes are refused before sending (the server would refuse them too).
MAX_COMMAND = 4096


class NewCCDPC(Connection):
    """Generation 2: length-prefixed messages; replies echo their command's sequence number."""

    protocol_version = 2
    _decoder: PacketDecoder

    def __init__(
        self, sock: socket.socket, host: str, port: int, version: tuple[int, int], **kw: Any
    ) -> None:
        super().__init__(sock, host, port, version, **kw)
        self._decoder = PacketDecoder(self.max_payload)
        self._seq = 0

    def _send_command(self, payload: bytes) -> int:
        if len(payload) > MAX_COMMAND:
            raise ValueError(f"a command holds at most {MAX_COMMAND} bytes, not {len(payload)}")
        self._seq = self._seq % 0xFFFFFFFF + 1
        # One buffer, one send: a command is small, and two sends cost a round of syscalls.
        self._write(encode_header(Type.COMMAND, Status.OK, self._seq, len(payload)) + payload)
        return self._seq

    def _read_message(self, deadline: float) -> Message:
        return to_message(self._next_event(self._decoder, deadline))

    def _is_reply_to(self, reply: Reply, seq: int) -> bool:
        if reply.seq == seq:
            return True
        if reply.seq == 0 and reply.status is Status.BUSY:
            raise error(f"The server refused the connection: {reply.text}")
        if 0 < seq - reply.seq < 1 << 31:
            return False  # the answer to a command sent with `send`: it waits for `receive`
        raise protocolerror(f"Reply to command {reply.seq} while awaiting command {seq}")
