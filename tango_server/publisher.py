"""Tango State/Status from the link's snapshot, and the change events pushed from code.

One thread per device, registered with omniORB, does all the pushing: the link's worker only
wakes it (it never calls into Tango, so a slow event consumer cannot stall the wire). Values
are pushed when they change; counters and Progress at most every `COUNTER_PERIOD`, so a 2.86 MB
transfer does not turn into an event storm. FrameNumber is pushed as soon as a frame is ready,
like Lima's last_image_ready: a client reads Frame when it changes. Clients (taurus, Sardana)
subscribe and need no polling. A change after a quiet spell is pushed at once; the changes of a
burst (a frame fetched changes the picture three to six times in a few milliseconds) are looked
at together, at most `COALESCE` (5 ms) after they happen, so that a server of many devices does
not spend its CPU waking this thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import tango  # type: ignore[import-untyped]
from tango import AttrQuality, DevState

from .link import Link
from .link.state import LinkState, Snapshot

__all__ = ["COUNTERS", "COUNTER_PERIOD", "EVENTS", "Publisher", "tango_state"]

#: Counter events are pushed at most this often (seconds): 5 Hz.
COUNTER_PERIOD = 0.2
#: The publisher looks at the link when woken, when the link's snapshot says it changes by the
#: clock (`Snapshot.changes_at`), when counters held back are due, and at least this often
#: (seconds): for what nobody wakes it for (a new subscriber to Temperature, log notices).
IDLE = 1.0
#: Changes that come within this many seconds of the last look wait for its end and are pushed
#: together: a frame fetched (Send, its reply, its data) changes the picture three to six times
#: in a few milliseconds, and each look costs the server a thread wake-up and the GIL: looking at
#: each change took a third of the server's CPU while one device streamed frames.
COALESCE = 0.005
# The least wait, so that a time already reached cannot make the thread spin.
_LEAST = 0.001
#: Attributes whose change events are pushed from code (within `COALESCE` of a change).
EVENTS = (
    "State",
    "Status",
    "ConnectionState",
    "PendingPackets",
    "LastError",
    "Errors",
    "DetectorState",
    "FrameNumber",
    "SessionId",
    "ProtocolVersion",
    "ProtocolClass",
    "ServerVersion",
    "Temperature",
)
COUNTERS = (
    "BytesSent",
    "BytesReceived",
    "PacketsSent",
    "PacketsReceived",
    "Reconnects",
    "Progress",
)

_TEXTS = frozenset({"ProtocolClass", "ServerVersion"})

_STATES = {
    LinkState.DISCONNECTED: DevState.OFF,
    LinkState.CONNECTING: DevState.INIT,
    LinkState.CONNECTED: DevState.ON,
    LinkState.BUSY: DevState.RUNNING,
    LinkState.FAULT: DevState.FAULT,
}


def tango_state(snap: Snapshot) -> tuple[Any, str]:
    """The device's State and Status: the link's state, RUNNING while an acquisition is under
    way, ALARM if the PC complains, and why."""
    state, text, activity = _STATES[snap.state], snap.text, snap.detector.activity
    if state in (DevState.ON, DevState.RUNNING) and activity:
        state, text = DevState.RUNNING, f"{text}\n{activity}."
    if state is DevState.ON and snap.alarm:
        state, text = DevState.ALARM, f"{text} {snap.alarm}"
    if snap.last_error:
        text += f"\nLast error: {snap.last_error}"
    return state, text


class Publisher:
    """Pushes the change events of `device` (a `tango.server.Device`) for the state of `link`."""

    def __init__(
        self,
        device: Any,
        link: Link,
        state_of: Callable[[Snapshot], tuple[Any, str]] = tango_state,
        extra: Callable[[], dict[str, object]] | None = None,
    ) -> None:
        """`state_of`: State and Status from a snapshot; `extra`: more values to push when
        they change (a series' LastImageAcquired, say)."""
        self._device = device
        self._link = link
        self._state_of = state_of
        self._extra = extra
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._published: dict[str, object] = {}
        self._counters_due = 0.0
        self._thread = threading.Thread(target=self._run, name="ccdpc-events", daemon=True)

    def start(self) -> None:
        """Start pushing."""
        self._thread.start()

    def wake(self) -> None:
        """Something changed: look now (the link's listener; any thread, returns at once)."""
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop pushing, within `timeout` seconds."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        wait, looked = 0.0, -COALESCE
        with tango.EnsureOmniThread():  # a thread that calls into Tango must be known to omniORB
            while not self._stop.is_set():
                self._wake.wait(wait)
                early = looked + COALESCE - time.monotonic()
                if early > 0 and self._stop.wait(early):  # a burst: seen whole, at its end
                    break
                self._wake.clear()
                looked, wait = time.monotonic(), IDLE
                try:
                    self._log_notices()
                    wait = self._publish()
                except tango.DevFailed as exc:
                    self._device.error_stream(f"Cannot push events: {exc.args[0].desc}")

    def _log_notices(self) -> None:
        device, notices = self._device, self._link.notices
        while notices:
            level, text = notices.popleft()
            if level >= logging.ERROR:
                device.error_stream(text)
            elif level >= logging.WARNING:
                device.warn_stream(text)
            else:
                device.info_stream(text)

    def _publish(self) -> float:
        """Push what changed; return the seconds until the next look, unless woken before."""
        if self._device.is_there_subscriber("Temperature", tango.EventType.CHANGE_EVENT):
            self._link.watch_temperature()  # only then does the temperature cost traffic
        snap = self._link.snapshot()
        state, status = self._state_of(snap)
        self._device.set_state(state)
        self._device.set_status(status)
        connected = snap.protocol_version != 0
        values: dict[str, object] = {
            "State": state,
            "Status": status,
            "ConnectionState": snap.state,
            "PendingPackets": snap.pending,
            "LastError": snap.last_error,
            "Errors": snap.errors,
            "DetectorState": snap.detector.state,  # None: unknown, pushed as INVALID
            "FrameNumber": snap.detector.frame_number,
            "SessionId": snap.session_id if connected else None,
            "ProtocolVersion": snap.protocol_version if connected else None,
            "ProtocolClass": snap.protocol_class if connected else None,
            "ServerVersion": snap.server_version if connected else None,
            "Temperature": snap.temperature,
        }
        if self._extra is not None:
            values.update(self._extra())
        c, now = snap.counters, time.monotonic()
        counters: dict[str, object] = {
            "BytesSent": c.bytes_sent,
            "BytesReceived": c.bytes_received,
            "PacketsSent": c.packets_sent,
            "PacketsReceived": c.packets_received,
            "Reconnects": c.reconnects,
            "Progress": snap.detector.progress,
        }
        look_at = now + IDLE if snap.changes_at is None else min(snap.changes_at, now + IDLE)
        if now >= self._counters_due:
            self._counters_due = now + COUNTER_PERIOD
            values.update(counters)
        elif any(self._published.get(name) != value for name, value in counters.items()):
            look_at = min(look_at, self._counters_due)  # held back: pushed when due
        subscribed = self._device.is_there_subscriber
        for name, value in values.items():
            if name in self._published and self._published[name] == value:
                continue
            self._published[name] = value
            if not subscribed(name, tango.EventType.CHANGE_EVENT):
                # Nobody listens: a push would cost the GIL for nothing (with 16 devices in one
                # server, pushing took a third of it). A subscriber gets the value Tango reads
                # as it subscribes, this one, and then the changes after it, as before.
                continue
            if value is None:  # unknown: INVALID, with a placeholder of the attribute's type
                blank = "" if name in _TEXTS else 0
                self._device.push_change_event(name, blank, time.time(), AttrQuality.ATTR_INVALID)
            else:
                self._device.push_change_event(name, value)
        return max(look_at - time.monotonic(), _LEAST)
