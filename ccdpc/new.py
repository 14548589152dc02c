"""`NewCCDPC`: generation 2, 12-byte headers with type, status and sequence number."""

from __future__ import annotations

import socket
from typing import Any

from .connection import Connection
from .errors import error, protocolerror
from .gen2 import HEADER, PacketDecoder, Type, to_message
from .messages import Message, Reply, Status

__all__ = ["NewCCDPC"]

#: Commands over this many bytes are refused before sending (the server would refuse them too).
MAX_COMMAND = 4096

_pack = HEADER.pack
_COMMAND = int(Type.COMMAND)
_OK = int(Status.OK)
_REPLY = Type.REPLY  # from a global, as reading an enum member is slow


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
        size = len(payload)
        if size > MAX_COMMAND:
            raise ValueError(f"a command holds at most {MAX_COMMAND} bytes, not {size}")
        self._seq = seq = self._seq % 0xFFFFFFFF + 1
        # One buffer, one send: a command is small, and two sends cost a round of syscalls.
        self._write(_pack(size, _COMMAND, _OK, seq) + payload)
        return seq

    def _read_message(self, deadline: float) -> Message:
        packet = self._next_event(self._decoder, deadline)
        if packet.type is _REPLY:  # the usual case, without a call of `to_message`
            try:
                return Reply(packet.payload.decode("ascii"), packet.status, packet.seq)
            except UnicodeDecodeError:
                pass  # `to_message` raises the error
        return to_message(packet)

    def _is_reply_to(self, reply: Reply, seq: int) -> bool:
        if reply.seq == seq:
            return True
        if reply.seq == 0 and reply.status is Status.BUSY:
            raise error(f"The server refused the connection: {reply.text}")
        if 0 < seq - reply.seq < 1 << 31:
            return False  # the answer to a command sent with `send`: it waits for `receive`
        raise protocolerror(f"Reply to command {reply.seq} while awaiting command {seq}")
