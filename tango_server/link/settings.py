"""The device's configuration, checked: Tango property values in, a `Settings` or `BadProperty` out.

Pure functions, no tango import: every rule is testable without a device server. A bad value is
reported with the name of the property that holds it, so the device's Status can say what to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ccdpc

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_PACKET_SIZE",
    "RECEIVER_TIMEOUT",
    "BadProperty",
    "Settings",
    "settings_from_properties",
]

#: The protocol's bound on one payload; `MaxPacketSize` may only lower it.
MAX_PACKET_SIZE = ccdpc.config.maxpacketsize

#: Longest timeout accepted, in seconds: anything longer is a typing error, not a plan.
MAX_TIMEOUT = 3600.0

#: Default of the three timeout properties, in seconds (the driver's own packet timeout).
DEFAULT_TIMEOUT = 5.0
#: Default of ReceiverTimeout: seconds a client's inbox is kept with nothing fetched.
RECEIVER_TIMEOUT = 300.0
#: Longest ReceiverTimeout: a day.
MAX_RECEIVER_TIMEOUT = 86400.0


class BadProperty(ValueError):
    """A property value the device cannot work with; `name` is the property."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Property {name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    """Where the control PC is and how long to wait for it (seconds), as the link needs them."""

    host: str
    port: int
    connect_timeout: float = DEFAULT_TIMEOUT
    first_packet_timeout: float = DEFAULT_TIMEOUT
    packet_timeout: float = DEFAULT_TIMEOUT
    auto_connect: bool = True
    debug: bool = False
    max_packet_size: int = MAX_PACKET_SIZE
    receiver_timeout: float = RECEIVER_TIMEOUT

    @property
    def hostname(self) -> str:
        """``host:port`` as `ccdpc.CCDPC` takes it (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def settings_from_properties(
    host: str | None,
    *,
    port: int | None = None,
    connect_timeout: float | None = None,
    first_packet_timeout: float | None = None,
    packet_timeout: float | None = None,
    auto_connect: bool | None = None,
    debug: bool | None = None,
    max_packet_size: int | None = None,
    receiver_timeout: float | None = None,
) -> Settings:
    """Check the property values (None: not set) and return the settings, or raise `BadProperty`.

    `host` may carry the port (``"host:port"``); `port` 0 or unset then takes it from there, or
    the protocol's default 9033. A port in both that disagrees is refused rather than guessed.
    """
    if host is None or not host.strip():
        raise BadProperty("Host", "required: the control PC's name or address ('host[:port]')")
    try:
        name, host_port = ccdpc.parse_hostname(host, default_port=0)
    except ValueError as exc:
        raise BadProperty("Host", str(exc)) from None
    wanted = 0 if port is None else port
    if not 0 <= wanted < 65536:
        raise BadProperty("Port", f"{wanted} is not a TCP port (1-65535, or 0 for the default)")
    if wanted and host_port and wanted != host_port:
        raise BadProperty("Port", f"{wanted} contradicts the port in Host {host!r}")
    return Settings(
        host=name,
        port=wanted or host_port or ccdpc.config.port,
        connect_timeout=_seconds("ConnectTimeout", connect_timeout),
        first_packet_timeout=_seconds("FirstPacketTimeout", first_packet_timeout),
        packet_timeout=_seconds("PacketTimeout", packet_timeout),
        auto_connect=True if auto_connect is None else bool(auto_connect),
        debug=bool(debug),
        max_packet_size=_packet_size(max_packet_size),
        receiver_timeout=_receiver_timeout(receiver_timeout),
    )


def _seconds(name: str, value: float | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise BadProperty(name, f"{value!r} is not a time in seconds (> 0 and <= {MAX_TIMEOUT:g})")
    return float(value)


def _packet_size(value: int | None) -> int:
    if value is None:
        return MAX_PACKET_SIZE
    if not 0 < value <= MAX_PACKET_SIZE:
        raise BadProperty(
            "MaxPacketSize", f"{value} bytes is not in 1..{MAX_PACKET_SIZE} (the protocol's limit)"
        )
    return value


def _receiver_timeout(value: float | None) -> float:
    if value is None:
        return RECEIVER_TIMEOUT
    if not math.isfinite(value) or not 0 < value <= MAX_RECEIVER_TIMEOUT:
        raise BadProperty(
            "ReceiverTimeout",
            f"{value!r} is not a time in seconds (> 0 and <= {MAX_RECEIVER_TIMEOUT:g})",
        )
    return float(value)
