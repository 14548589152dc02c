"""What a connection of the simulator sends: `Outgoing` messages, each in parts.

Its own module, below both the handlers (`ccdpc.sim.handler`) and the generation 3 sessions
(`ccdpc.sim.sessions`), which make them: so the handler depends on the sessions, never the
other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Outgoing", "Part"]

Part = bytes | bytearray | memoryview


@dataclass
class Outgoing:
    """Messages to send back to back, each given in parts (a header, then a large payload
    without copying it). Nothing else goes on the wire between the messages of one `Outgoing`."""

    messages: Sequence[tuple[Part, ...]]
    #: The first sending of the answer to a command: the reply faults act on it.
    reply: bool = False
    #: The greeting: the `drop-session` byte count starts after it.
    greeting: bool = False
    #: Close the connection (FIN) once these messages are sent.
    close_after: bool = False

    @property
    def size(self) -> int:
        return sum(len(part) for message in self.messages for part in message)
