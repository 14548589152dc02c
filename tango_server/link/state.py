"""What the link tells its users: its state, a snapshot of everything shown, and its exceptions.

No tango import: the device maps these to Tango states, attributes and `DevFailed` reasons.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

import ccdpc

__all__ = [
    "DetectorView",
    "LinkBusy",
    "LinkState",
    "NoFrame",
    "NotConnected",
    "Snapshot",
    "WaitTimeout",
    "add_counters",
]


class LinkState(enum.IntEnum):
    """What the link is doing (the device's ConnectionState; Tango enums count from 0)."""

    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2
    BUSY = 3
    FAULT = 4


class NotConnected(ConnectionError):
    """There is no connection to the control PC (never made, disconnected, lost, or resuming)."""


class LinkBusy(RuntimeError):
    """The worker did not get to a job in time; the job was withdrawn and nothing was sent."""


class WaitTimeout(TimeoutError):
    """A caller's wait ended before the outcome; whatever was under way carries on."""


class NoFrame(LookupError):
    """No frame has been read yet: there is nothing to show or save."""


@dataclass(frozen=True)
class DetectorView:
    """The detector as the link knows it: for the detector attributes, State and Status.

    `state` is None while unknown (not connected, or not asked yet). `activity` says in words what
    the operation under way does ("" when none); `progress` is its share done, 0-100 %. `width`
    and `height` are those of the last frame read (0: none yet), `frame_number` counts the frames
    read since the device started.
    """

    state: ccdpc.DetectorState | None = None
    activity: str = ""
    progress: float = 0.0
    frame_number: int = 0
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Snapshot:
    """The link at one moment, consistent: for attributes, State, Status and events.

    `text` says what the link does, in words; `alarm` is the PC's last complaint ("" if none);
    `protocol_version` is 0 while disconnected; `session_id` is the generation 3 session (0 for
    generations 1 and 2, and while disconnected); `temperature` the CCD's, in degC, if read in
    the last seconds (else None). `changes_at` is the ``time.monotonic()`` at which the picture
    changes by the clock alone (BUSY after a while, a countdown in `text`, a temperature growing
    old), None if only something happening can change it: when to look again.
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
    session_id: int = 0
    detector: DetectorView = field(default_factory=DetectorView)
    temperature: float | None = None
    changes_at: float | None = None


def add_counters(a: ccdpc.Counters, b: ccdpc.Counters) -> ccdpc.Counters:
    """Field by field sum: the traffic of connections closed plus that of the live one."""
    return ccdpc.Counters(*(getattr(a, f.name) + getattr(b, f.name) for f in fields(a)))
