"""Packet tracing: one timestamped hexdump line per packet, to the terminal or to `txtout`."""

from __future__ import annotations

import sys
import time
from typing import IO, cast

__all__ = ["HexTracer", "hexdump_line"]


def hexdump_line(direction: str, data: bytes | bytearray | memoryview, limit: int = 32) -> str:
    """``HH:MM:SS.mmm > 80 bytes | 4f 4b 20 ... |OK ...|``, the first `limit` bytes shown."""
    now = time.time()
    head = bytes(data[:limit])
    hexes = " ".join(f"{b:02x}" for b in head)
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in head)
    more = " ..." if len(data) > limit else ""
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    return f"{stamp} {direction} {len(data):8d} bytes | {hexes}{more} |{text}|"


class HexTracer:
    """A tracer for `Connection.trace`. `txtout` is a callable taking a line, a writable text
    file, or None for standard output."""

    def __init__(self, txtout: object = None, limit: int = 32) -> None:
        self.txtout = txtout
        self.limit = limit

    def __call__(self, direction: str, data: bytes | bytearray | memoryview) -> None:
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
