"""Driver for the control PC of a KappaCCD-style X-ray area detector.

    >>> from ccdpc import CCDPC
    >>> with CCDPC("localhost:9033") as pc:
    ...     print(pc.protocol_version, pc.command("IDENT"))

Tango-free and stdlib-only; the wire protocol is specified in docs/protocol.md.
"""

from . import config
from .ccdpc3 import CCDPC3
from .connection import Connection, Counters
from .debugging import DebuggingCCDPC
from .detector import Detector, DetectorState, DetectorStatus, Ident
from .errors import (
    CCDPCError,
    CommandError,
    EmptyPacket,
    ProtocolError,
    SessionLost,
    Timeout,
    emptypacket,
    error,
    protocolerror,
    timeout,
)
from .factory import CCDPC, parse_hostname
from .files import load_frame, save_frame
from .image import Frame
from .messages import Data, Event, Message, RawFrame, Reply, Status
from .new import NewCCDPC
from .standard import StandardCCDPC
from .transport import recvfixed, recvinto, sendfixed, timeouthandler

__version__ = "0.1.0"

__all__ = [
    "CCDPC",
    "CCDPC3",
    "CCDPCError",
    "CommandError",
    "Connection",
    "Counters",
    "Data",
    "DebuggingCCDPC",
    "Detector",
    "DetectorState",
    "DetectorStatus",
    "EmptyPacket",
    "Event",
    "Frame",
    "Ident",
    "Message",
    "NewCCDPC",
    "ProtocolError",
    "RawFrame",
    "Reply",
    "SessionLost",
    "StandardCCDPC",
    "Status",
    "Timeout",
    "config",
    "emptypacket",
    "error",
    "load_frame",
    "parse_hostname",
    "protocolerror",
    "recvfixed",
    "recvinto",
    "save_frame",
    "sendfixed",
    "timeout",
    "timeouthandler",
]
