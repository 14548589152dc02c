"""The hook the driver calls with every packet: hexdump lines of the last packets, for Trace.

The driver calls its `trace` once per packet, sent or received (header and payload together), in
the thread that sends or reads, from the first packet of a connection on (a generation 3 OPEN,
and those of its resumes, too).
"""

from __future__ import annotations

import threading
from collections import deque

from ccdpc.trace import hexdump_line

__all__ = ["TRACE_LINES", "PacketTrace"]

#: Hexdump lines kept.
TRACE_LINES = 200


class PacketTrace:
    """A `ccdpc.Connection.trace` callable; records lines while `enabled`. Thread-safe."""

    def __init__(self, enabled: bool = False, size: int = TRACE_LINES) -> None:
        self.enabled = enabled
        self._lines: deque[str] = deque(maxlen=size)
        self._lock = threading.Lock()

    def __call__(self, direction: str, data: bytes | bytearray | memoryview) -> None:
        if self.enabled:
            line = hexdump_line(direction, data)
            with self._lock:
                self._lines.append(line)

    def lines(self) -> list[str]:
        """The lines recorded, oldest first."""
        with self._lock:
            return list(self._lines)
