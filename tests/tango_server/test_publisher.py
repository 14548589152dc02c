"""The event publisher alone: a stand-in device records what is pushed, a stand-in link hands out
the snapshots and counts how often it is looked at.

A burst of changes (a frame fetched: the send, its reply, its data) is looked at once or twice,
not once per change, and its last value is pushed; a change after a quiet spell is pushed at
once, not at the next idle round.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import tango  # type: ignore[import-untyped]

import ccdpc
from tango_server.link.state import LinkState, Snapshot
from tango_server.publisher import COALESCE, IDLE, Publisher

BURST = 20


class Device:
    """What `Publisher` calls on a Tango device; every attribute has a subscriber."""

    def __init__(self) -> None:
        self.pushed: queue.Queue[tuple[str, object]] = queue.Queue()

    def is_there_subscriber(self, name: str, kind: Any) -> bool:
        return True

    def push_change_event(self, name: str, value: object, *quality: object) -> None:
        self.pushed.put((name, value))

    def set_state(self, state: Any) -> None:
        pass

    def set_status(self, status: str) -> None:
        pass

    def info_stream(self, text: str) -> None:
        pass

    warn_stream = error_stream = info_stream


class Link:
    """A connected link whose only change is the number of messages pending."""

    def __init__(self) -> None:
        self.pending = 0
        self.looks = 0
        self.notices: collections.deque[tuple[int, str]] = collections.deque()
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        with self._lock:
            self.looks += 1
            pending = self.pending
        return Snapshot(
            LinkState.CONNECTED, "Connected", "", 3, "CCDPC3", "sim", ccdpc.Counters(), 0, "",
            pending,
        )  # fmt: skip

    def watch_temperature(self) -> None:
        pass

    def change(self, pending: int) -> None:
        with self._lock:
            self.pending = pending


@pytest.fixture
def publishing() -> Iterator[tuple[Device, Link, Publisher]]:
    device, link = Device(), Link()
    publisher = Publisher(device, link)  # type: ignore[arg-type]
    publisher.start()
    try:
        yield device, link, publisher
    finally:
        publisher.stop()


def pushed(device: Device, name: str, value: object, timeout: float) -> float:
    """Wait for `name` to be pushed with `value`; the time it took."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        got = device.pushed.get(timeout=max(deadline - time.monotonic(), 0))
        if got == (name, value):
            return time.monotonic() - start


def test_a_burst_of_changes_is_looked_at_together(
    publishing: tuple[Device, Link, Publisher],
) -> None:
    device, link, publisher = publishing
    pushed(device, "PendingPackets", 0, 2.0)  # the first look, at start
    before = link.looks
    pace = COALESCE / 10  # the stimulus' pace, not a wait for the publisher
    start = time.monotonic()
    for pending in range(1, BURST + 1):
        link.change(pending)
        publisher.wake()
        time.sleep(pace)
    windows = (time.monotonic() - start) / COALESCE  # about 2; more on a loaded machine
    pushed(device, "PendingPackets", BURST, 2.0)  # the burst's last value is pushed
    # One look at the first change, then at most one per window: not one per change.
    looks = link.looks - before
    assert looks <= 2 + windows < BURST, (looks, windows)


def test_a_change_after_a_quiet_spell_is_pushed_at_once(
    publishing: tuple[Device, Link, Publisher],
) -> None:
    device, link, publisher = publishing
    pushed(device, "PendingPackets", 0, 2.0)
    time.sleep(COALESCE * 2)  # quiet: the next change starts a burst
    link.change(1)
    publisher.wake()
    assert pushed(device, "PendingPackets", 1, IDLE) < IDLE / 2  # woken, not the idle round


def test_tango_is_what_it_runs_in() -> None:
    """The stand-in's calls are those of a `tango.server.Device`."""
    for name in ("is_there_subscriber", "push_change_event", "set_state", "set_status",
                 "info_stream", "warn_stream", "error_stream"):  # fmt: skip
        assert callable(getattr(tango.server.Device, name)), name
