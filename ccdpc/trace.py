"""Packet tracing: one timestamped hexdump line per packet, to the terminal or to `txtout`."""

from __future__ import annotations

import sys
import time
from typing import IO, cast

__all__ = ["TRACE_BYTES", "Excerpt", "HexTracer", "excerpt", "hexdump_line"]

#: The most bytes of one packet a tracer is given: a header and the start of its payload. A
#: tracer that got a whole 2.86 MB frame per packet would cost a copy of every frame.
TRACE_BYTES = 256

Buffer = bytes | bytearray | memoryview


class Excerpt(bytes):
    """The first bytes of a packet too big to trace whole; `size` is the whole packet's."""

    size: int

    def __new__(cls, head: Buffer, size: int) -> Excerpt:
        self = super().__new__(cls, head)
        self.size = size
        return self

    @property
    def more(self) -> int:
        """The bytes of the packet left out."""
        return self.size - len(self)


def excerpt(parts: list[bytearray] | list[bytes | bytearray]) -> Buffer:
    """What a tracer is given of the packet made of `parts`: all of it up to `TRACE_BYTES`, else
    an `Excerpt` of its first `TRACE_BYTES` (the parts are not joined: no copy of a frame)."""
    if len(parts) == 1 and len(parts[0]) <= TRACE_BYTES:
        return parts[0]
    size = sum(map(len, parts))
    if size <= TRACE_BYTES:
        return b"".join(parts)
    head = bytearray()
    for part in parts:
        head += memoryview(part)[: TRACE_BYTES - len(head)]
        if len(head) == TRACE_BYTES:
            break
    return Excerpt(head, size)


def hexdump_line(direction: str, data: Buffer, limit: int = 32) -> str:
    """``HH:MM:SS.mmm > 80 bytes | 4f 4b 20 ... |OK ...|``, the first `limit` bytes shown, and
    ``(N more)``: how many were not."""
    now = time.time()
    head = bytes(data[:limit])
    size = data.size if isinstance(data, Excerpt) else len(data)
    hexes = " ".join(f"{b:02x}" for b in head)
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in head)
    more = f" ... ({size - len(head)} more)" if size > len(head) else ""
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    return f"{stamp} {direction} {size:8d} bytes | {hexes}{more} |{text}|"


class HexTracer:
    """A tracer for `Connection.trace`. `txtout` is a callable taking a line, a writable text
    file, or None for standard output."""

    def __init__(self, txtout: object = None, limit: int = 32) -> None:
        self.txtout = txtout
        self.limit = limit

    def __call__(self, direction: str, data: Buffer) -> None:
        line = hexdump_line(direction, data, self.limit)
        out = self.txtout
        if out is None:
            out = sys.stdout
        if hasattr(out, "write"):
            stream = cast(IO[str], out)
            stream.write(line + "\n")
            stream.flush()
        elif callable(out):
            out(line)
        else:
            raise TypeError(f"txtout must be a callable or a file, not {type(out).__name__}")
