"""Generation 3 through the device: a lost link resumes its session and loses nothing; only a
session the PC no longer knows makes a new one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator, synthetic_frame

from .conftest import wait_until
from .devices import device_server, reason


@contextmanager
def pc3(**options: Any) -> Iterator[tuple[Simulator, tango.DeviceProxy]]:
    """A generation 3 simulator with these options, and a device on it, ON."""
    properties = options.pop("properties", {})
    with (
        Simulator(protocol=3, **options) as sim,
        device_server({"Host": sim.hostname, **properties}) as dev,
    ):
        wait_until(lambda: dev.State() == DevState.ON, what="ON after start")
        yield sim, dev


def receive_all(dev: tango.DeviceProxy, count: int) -> list[str]:
    """`count` messages through Receive, as text; an error reply as ``ERROR <its text>``."""
    messages: list[str] = []
    deadline = time.monotonic() + 20
    while len(messages) < count:
        assert time.monotonic() < deadline, f"only {len(messages)} of {count}: {messages}"
        try:
            messages.append(bytes(dev.Receive(1000)).decode("ascii"))
        except tango.DevFailed as exc:
            why = exc.args[0].reason
            if why == "CCDPC_Timeout":
                continue
            assert why == "CCDPC_CommandFailed", exc
            messages.append(f"ERROR {exc.args[0].desc}")
    return messages


def test_drops_lose_nothing_and_deliver_once_in_order() -> None:
    with pc3(faults=["drop-session"], drop_after=300) as (sim, dev):
        session = dev.SessionId
        commands = ["EXPOSE 0 2"] + [f"X{n}" if n % 3 else "SHUTTER OPEN" for n in range(1, 40)]
        for text in commands:
            dev.Send(text.encode("ascii"))
        messages = receive_all(dev, len(commands) + 4)  # the exposure's four events too
        events = [text for text in messages if text.startswith(("STATE ", "FRAME "))]
        replies = [text for text in messages if text not in events]
        assert events == ["STATE EXPOSING", "STATE READING", "FRAME 1 621 576", "STATE IDLE"]
        assert replies == ["EXPOSING 0.000 2"] + [
            f"ERROR unknown command X{n}" if n % 3 else "SHUTTER OPEN" for n in range(1, 40)
        ]
        assert dev.PendingPackets == 0
        assert dev.Reconnects >= 5  # every 300 bytes
        assert dev.SessionId == session
        wait_until(lambda: dev.State() == DevState.ON, what="ON after the last drop")
        sim.set_faults([])
        with pytest.raises(tango.DevFailed):
            dev.Receive(0)  # nothing more: no message came twice


def test_acquire_across_a_drop_is_pixel_exact() -> None:
    size = 621 * 576 * 2
    # The first connection is cut near the end of the frame, after the exposure's small
    # messages; the next one has room for the frame again, whole.
    with pc3(faults=["drop-session"], drop_after=size + 100) as (sim, dev):
        dev.Binning = 2
        dev.Acquire(0)
        wait_until(lambda: dev.FrameNumber == 1, 10, "the frame, over two connections")
        assert dev.Reconnects >= 1
        frame = np.frombuffer(synthetic_frame(621, 576, sim.detector.seed, 1), "<u2")
        assert np.array_equal(dev.Frame, frame.reshape(576, 621))


def test_idle_link_cut_resumes_the_same_session() -> None:
    with pc3() as (sim, dev):
        session, reconnects = dev.SessionId, dev.Reconnects
        assert session > 0
        sim.disconnect_clients()
        wait_until(lambda: dev.Reconnects == reconnects + 1, 10, "the session resumed")
        assert dev.SessionId == session
        assert dev.State() == DevState.ON
        assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
        assert "lost" not in dev.LastError  # the driver resumed within the worker's poll


def test_link_down_is_fault_then_the_same_session() -> None:
    with pc3(properties={"ConnectTimeout": 0.5}) as (sim, dev):
        session, reconnects = dev.SessionId, dev.Reconnects
        dev.Send(b"IDENT")  # its reply is lost with the link, and kept by the session
        sim.set_faults(["silent"])  # new connections get no greeting: resumes fail
        sim.disconnect_clients()
        wait_until(lambda: dev.State() == DevState.FAULT, 5, "FAULT while the link is down")
        status = dev.Status()
        assert f"session {session} kept. Resuming it: attempt" in status
        assert dev.SessionId == session
        start = time.monotonic()
        with pytest.raises(tango.DevFailed) as exc:
            dev.Command("TEMP")
        assert (reason(exc), time.monotonic() - start < 1) == ("CCDPC_NotConnected", True)
        sim.set_faults([])
        wait_until(lambda: dev.State() == DevState.ON, 15, "ON once resumed")
        assert (dev.SessionId, dev.Reconnects) == (session, reconnects + 1)
        wait_until(lambda: dev.PendingPackets == 1, 5, "the reply kept by the session")
        assert bytes(dev.Receive(0)).startswith(b"KAPPACCD-SIM ")


def test_restarted_pc_means_a_new_session() -> None:
    with pc3() as (sim, dev):
        session, reconnects = dev.SessionId, dev.Reconnects
        sim.restart()  # the PC forgets its sessions
        wait_until(lambda: dev.Reconnects > reconnects, 15, "a new connection")
        wait_until(lambda: dev.State() == DevState.ON, 10, "ON with a new session")
        assert dev.SessionId not in (0, session)
        assert f"unknown session {session}" in dev.LastError
        assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")


def test_disconnect_ends_the_session() -> None:
    with pc3() as (sim, dev):
        session = dev.SessionId
        dev.Disconnect()
        assert dev.read_attribute("SessionId").quality == tango.AttrQuality.ATTR_INVALID
        wait_until(lambda: not sim.connected, 5, "the PC sees the client go")
        dev.Connect()
        assert dev.SessionId not in (0, session)
