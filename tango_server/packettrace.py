"""The hook the driver calls with every packet: hexdump lines, and when a message began to arrive.

The driver calls its `trace` once per unit it completes (a header, then its payload; a record), in
the thread that reads. The first unit received during a `receive` call means a message is under
way until that call returns: that is how the link knows it is busy with a large transfer.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from ccdpc.trace import hexdump_line

__all__ = ["TRACE_LINES", "PacketTrace"]

#: Hexdump lines kept.
TRACE_LINES = 200


class PacketTrace:
    """A `ccdpc.Connection.trace` callable; records lines while `enabled`. Thread-safe."""

    def __init__(self, enabled: bool = False, size: int = TRACE_LINES) -> None:
        self.enabled = enabled
        #: `time.monotonic()` when the first unit of the message being received arrived, or None.
        self.receiving_since: float | None = None
        self._lines: deque[str] = deque(maxlen=size)
        self._lock = threading.Lock()

    def __call__(self, direction: str, data: bytes | bytearray | memoryview) -> None:
        if direction == "<" and self.receiving_since is None:
            self.receiving_since = time.monotonic()
        if self.enabled:
            self.add(hexdump_line(direction, data))

    def add(self, line: str) -> None:
        """Record a line (the driver's own tracer, `txtout`, calls this)."""
        with self._lock:
            self._lines.append(line)

    def received(self) -> None:
        """The `receive` call is over: no message is under way."""
        self.receiving_since = None

    def lines(self) -> list[str]:
        """The lines recorded, oldest first."""
        with self._lock:
            return list(self._lines)
