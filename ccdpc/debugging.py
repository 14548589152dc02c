"""`DebuggingCCDPC`: any generation, every packet traced as a timestamped hexdump line."""

from __future__ import annotations

import socket
from typing import Any

from .ccdpc3 import CCDPC3
from .connection import Connection
from .new import NewCCDPC
from .standard import StandardCCDPC
from .trace import HexTracer

__all__ = ["DebuggingCCDPC", "DebuggingCCDPC3", "DebuggingNewCCDPC", "DebuggingStandardCCDPC"]


class DebuggingCCDPC(Connection):
    """Adds packet tracing to the generation it is mixed with; ``CCDPC(..., debug=True)`` makes one.

    Lines go to the terminal, or to the factory's `txtout` (a callable or a file).
    """

    def __init__(
        self, sock: socket.socket, host: str, port: int, version: tuple[int, int], **kw: Any
    ) -> None:
        # Set before the generation's constructor runs, so a generation 3 OPEN is traced too.
        self.trace = HexTracer(kw.get("txtout"))
        super().__init__(sock, host, port, version, **kw)


class DebuggingStandardCCDPC(DebuggingCCDPC, StandardCCDPC):
    """Generation 1 with tracing."""


class DebuggingNewCCDPC(DebuggingCCDPC, NewCCDPC):
    """Generation 2 with tracing."""


class DebuggingCCDPC3(DebuggingCCDPC, CCDPC3):
    """Generation 3 with tracing."""
