"""`CCDPC(hostname)`: connect, read the greeting, return the connection class of its generation."""

from __future__ import annotations

import re

from . import config
from .ccdpc3 import CCDPC3
from .connection import Connection, Tracer, handshake
from .debugging import DebuggingCCDPC3, DebuggingNewCCDPC, DebuggingStandardCCDPC
from .errors import protocolerror
from .greeting import parse_greeting
from .new import NewCCDPC
from .standard import StandardCCDPC
from .transport import IdleTask

__all__ = ["CCDPC", "CLASSES", "DEBUGGING_CLASSES", "class_for", "parse_hostname"]

#: The connection class of each major protocol version.
CLASSES: dict[int, type[Connection]] = {1: StandardCCDPC, 2: NewCCDPC, 3: CCDPC3}
DEBUGGING_CLASSES: dict[int, type[Connection]] = {
    1: DebuggingStandardCCDPC,
    2: DebuggingNewCCDPC,
    3: DebuggingCCDPC3,
}

_HOSTNAME = re.compile(
    r"\[(?P<v6>[^\]]+)\](?::(?P<port6>[^:]*))?|(?P<host>[^:\[\]]*)(?::(?P<port>[^:]*))?"
)


def parse_hostname(hostname: str, default_port: int | None = None) -> tuple[str, int]:
    """``"host"``, ``"host:port"`` or ``"[v6addr]:port"`` -> ``(host, port)``; bad: `ValueError`."""
    match = _HOSTNAME.fullmatch(hostname.strip())
    host = match and (match["v6"] or match["host"])
    if match is None or not host:
        raise ValueError(f"Not a host name: {hostname!r}")
    text = match["port6"] if match["v6"] else match["port"]
    if text is None:
        return host, config.port if default_port is None else default_port
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"Not a TCP port in {hostname!r}: {text!r} (1-65535)")
    return host, int(text)


def class_for(greeting: bytes, debug: bool = False) -> type[Connection]:
    """The connection class for a greeting; an unknown major version: `protocolerror`."""
    major, minor = parse_greeting(greeting)
    table = DEBUGGING_CLASSES if debug else CLASSES
    try:
        return table[major]
    except KeyError:
        raise protocolerror(
            f"Unsupported protocol version {major}.{minor}: greeting {greeting!r}",
            greeting,
            len(greeting),
        ) from None


def CCDPC(
    hostname: str,
    txtout: object = None,
    idletask: IdleTask | None = None,
    *,
    debug: bool = False,
    connecttimeout: float | None = None,
    replytimeout: float | None = None,
    packettimeout: float | None = None,
    max_payload: int | None = None,
    trace: Tracer | None = None,
) -> Connection:
    """Connect to the control PC and return a connection of its generation, already talking.

    `hostname` is ``"host"`` (port `ccdpc.config.port`, 9033) or ``"host:port"``. `txtout` receives
    packet traces when `debug` is true (a callable or a file; default the terminal); `idletask()` is
    called at least every 0.1 s while the connection waits. Returns `StandardCCDPC`, `NewCCDPC` or
    `CCDPC3` (their `DebuggingCCDPC` variants with `debug=True`). `trace`, a callable taking a
    direction (``"<"``, ``">"``) and a packet's bytes, sees every packet from the first on (it
    replaces the hexdump of `debug`). A server of another protocol raises `protocolerror` quoting
    its greeting; no greeting in time, `timeout`; the peer closing first, `emptypacket`; a socket
    error or an unreachable host, `error`.
    """
    host, port = parse_hostname(hostname)
    limit = config.connecttimeout if connecttimeout is None else connecttimeout
    sock, greeting = handshake(host, port, limit, idletask)
    try:
        cls = class_for(greeting, debug)
    except BaseException:
        sock.close()
        raise
    return cls(
        sock,
        host,
        port,
        parse_greeting(greeting),
        txtout=txtout,
        idletask=idletask,
        connecttimeout=connecttimeout,
        replytimeout=replytimeout,
        packettimeout=packettimeout,
        max_payload=max_payload,
        trace=trace,
    )
