"""What the link tells its users: its state, a snapshot of everything shown, and its exceptions.

No tango import: the device maps these to Tango states, attributes and `DevFailed` reasons.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

import ccdpc

__all__ = ["LinkBusy", "LinkState", "NotConnected", "Snapshot", "WaitTimeout", "add_counters"]


class LinkState(enum.IntEnum):
    """What the link is doing (the device's ConnectionState; Tango enums count from 0)."""

    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2
    BUSY = 3
    FAULT = 4


class NotConnected(ConnectionError):
    """There is no connection to the control PC (never made, disconnected, or lost)."""


class LinkBusy(RuntimeError):
    """The worker did not get to a job in time; the job was withdrawn and nothing was sent."""


class WaitTimeout(TimeoutError):
    """A caller's wait ended before the outcome; whatever was under way carries on."""


@dataclass(frozen=True)
class Snapshot:
    """The link at one moment, consistent: for attributes, State, Status and events.

    `text` says what the link does, in words; `alarm` is the PC's last complaint ("" if none);
    `protocol_version` is 0 while disconnected.
    """

    state: LinkState
    text: str
    alarm: str
    protocol_version: int
    protocol_class: str
    server_version: str
    counters: ccdpc.Counters
    errors: int
    last_error: str
    pending: int


def add_counters(a: ccdpc.Counters, b: ccdpc.Counters) -> ccdpc.Counters:
    """Field by field sum: the traffic of connections closed plus that of the live one."""
    return ccdpc.Counters(*(getattr(a, f.name) + getattr(b, f.name) for f in fields(a)))
