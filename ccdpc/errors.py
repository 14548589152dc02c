"""The driver's exceptions.

The lowercase names are those of the original driver, kept so old scripts read naturally; the
PEP 8 names are aliases of the same classes. Every `error` means the link is unusable: the
connection that raised it has closed its socket (the one exception is a `receive` that timed out
before any byte arrived). `CommandError` is different: the control PC refused a command and the
link is fine.
"""

from __future__ import annotations

__all__ = [
    "CCDPCError",
    "CommandError",
    "EmptyPacket",
    "ProtocolError",
    "SessionLost",
    "Timeout",
    "emptypacket",
    "error",
    "protocolerror",
    "timeout",
]


class error(ConnectionError):
    """The link to the control PC failed ("Socket died on us.").

    `partial` holds the bytes of the packet that was being received when the failure happened
    (header included), `expected` the packet's size as far as it was known (0 when nothing was
    being received), `chunks` how many chunks of it had arrived.
    """

    def __init__(
        self, message: str, partial: bytes = b"", expected: int = 0, chunks: int = 0
    ) -> None:
        super().__init__(message)
        self.partial = bytes(partial)
        self.expected = expected
        self.chunks = chunks

    def __str__(self) -> str:
        return str(self.args[0])


class emptypacket(error, EOFError):
    """The peer closed the connection before a unit was complete."""


class timeout(error, TimeoutError):
    """A deadline passed: before the first byte, or between two chunks of one unit."""


class protocolerror(error, ValueError):
    """The peer sent bytes that break the protocol (wrong greeting, bad header, bad CRC, ...)."""


class SessionLost(error):
    """Generation 3: the server ended the session or no longer knows it; open a new connection."""


class CommandError(RuntimeError):
    """The control PC answered a command with an error or busy reply; the link stays usable."""

    def __init__(self, message: str, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


CCDPCError = error
EmptyPacket = emptypacket
Timeout = timeout
ProtocolError = protocolerror
