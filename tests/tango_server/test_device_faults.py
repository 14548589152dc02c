"""The device against a misbehaving control PC: hung, garbled, killed, taken by another client.

Whatever the peer does, every command answers within the client's 3 s timeout, the server stays
up, and State and Status say what happened.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

import ccdpc
from ccdpc.sim import Simulator, synthetic_frame

from ..fault_report import Case, FaultMatrix
from .conftest import wait_until
from .devices import device_server, reason

CLIENT_TIMEOUT = 3.0


@contextmanager
def pc_with(
    protocol: int, faults: list[str], sim_options: dict[str, Any] | None = None, **properties: Any
) -> Iterator[tuple[Simulator, tango.DeviceProxy]]:
    """A simulator with these faults (and options), and a device on it (AutoConnect false
    unless given)."""
    properties.setdefault("AutoConnect", False)
    with (
        Simulator(protocol=protocol, faults=faults, **(sim_options or {})) as sim,
        device_server({"Host": sim.hostname, **properties}) as dev,
    ):
        yield sim, dev


def timed_failure(call: Callable[[], object], case: Case | None = None) -> tuple[str, float]:
    """Run a call that must fail; return its reason and how long it took (also into `case`)."""
    start = time.monotonic()
    with pytest.raises(tango.DevFailed) as exc:
        call()
    took = time.monotonic() - start
    if case is not None:
        case.seconds, case.outcome = took, f"DevFailed {reason(exc)}"
    return reason(exc), took


def outcome(why: str, dev: tango.DeviceProxy) -> str:
    """A fault matrix cell: the DevFailed reason and the State after it."""
    return f"DevFailed {why}, {dev.State()}"


def recovered(case: Case, condition: Callable[[], object], timeout: float, what: str) -> None:
    """Wait (bounded) until the device works again; the time it took goes into `case`."""
    with case.recovery():
        wait_until(condition, timeout, what)


def test_stall_first(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, ["stall-first"], FirstPacketTimeout=1.0) as (_, dev),
        fault_matrix.case("stall-first", protocol) as case,
    ):
        dev.Connect()
        dev.Send(b"IDENT")  # sent: the PC will never answer
        wait_until(lambda: dev.State() == DevState.RUNNING, 1, "RUNNING while awaiting a reply")
        assert "awaiting the reply to 'IDENT'" in dev.Status()
        why, took = timed_failure(lambda: dev.Receive(0))
        assert (why, took < 0.5) == ("CCDPC_Timeout", True)  # the wait is elsewhere
        why, took = timed_failure(lambda: dev.Command("TEMP"), case)
        assert why == "CCDPC_Timeout"
        assert took < CLIENT_TIMEOUT
        wait_until(lambda: dev.State() == DevState.FAULT, 2, "FAULT once FirstPacketTimeout passed")
        case.outcome = outcome(why, dev)
        assert "No reply to 'IDENT' within 1 s" in dev.Status()
        assert "No reply to 'IDENT'" in dev.LastError
        why, took = timed_failure(lambda: dev.Command("IDENT"))
        assert (why, took < 0.5) == ("CCDPC_NotConnected", True)


def test_stall_mid(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, ["stall-mid"], PacketTimeout=1.5) as (sim, dev),
        fault_matrix.case("stall-mid", protocol) as case,
    ):
        dev.Connect()
        dev.Send(b"IDENT")  # half the reply comes, then nothing
        wait_until(lambda: dev.State() == DevState.RUNNING, 1, "RUNNING during the stall")
        reasons: list[str] = []
        for call in (lambda: dev.Command("TEMP"), lambda: dev.Send(b"TEMP")):
            why, took = timed_failure(call, case if not reasons else None)
            assert why in ("CCDPC_Timeout", "CCDPC_Busy", "CCDPC_NotConnected")
            assert took < CLIENT_TIMEOUT
            reasons.append(why)
        if protocol == 3:
            sim.set_faults([])  # so that the resume, 0.25 s after the loss, goes through
        wait_until(lambda: "Incomplete packet received" in dev.LastError, 3, "the stall seen")
        case.outcome = f"DevFailed {' then '.join(reasons)}, {dev.State()}"
        if protocol == 3:  # the session is resumed, and the reply sent again, whole
            recovered(case, lambda: dev.State() == DevState.ON, 5, "ON once resumed")
            assert bytes(dev.Receive(2000)).startswith(b"KAPPACCD-SIM ")
            assert dev.Reconnects == 1
            return
        assert dev.State() == DevState.FAULT
        assert "Incomplete packet received" in dev.Status()
        assert dev.ConnectionState == 4


def test_stall_mid_while_commands_wait() -> None:
    # The same link code serves every generation: one is enough for this slow test.
    with pc_with(2, ["stall-mid"], PacketTimeout=4.5) as (_, dev):
        dev.Connect()
        why, took = timed_failure(lambda: dev.Command("IDENT"))
        assert why == "CCDPC_Timeout"
        assert 1.5 < took < CLIENT_TIMEOUT
        why, took = timed_failure(lambda: dev.Command("TEMP"))  # the worker is stuck: not sent
        assert why == "CCDPC_Busy"
        assert took < CLIENT_TIMEOUT
        assert dev.State() == DevState.RUNNING
        dev.Disconnect()  # closes the connection under the stuck transfer
        wait_until(lambda: dev.State() == DevState.OFF, 2, "OFF after Disconnect")


def test_simulator_killed_and_restarted(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, [], AutoConnect=True) as (sim, dev),
        fault_matrix.case("server restart", protocol) as case,
    ):
        wait_until(lambda: dev.State() == DevState.ON, what="ON")
        sim.stop()
        wait_until(lambda: dev.State() == DevState.FAULT, what="FAULT once the PC is gone")
        assert "lost" in dev.Status()
        why, took = timed_failure(lambda: dev.Command("IDENT"), case)
        assert (why, took < 0.5) == ("CCDPC_NotConnected", True)
        case.outcome = outcome(why, dev)
        sim.start()  # the same port
        recovered(case, lambda: dev.State() == DevState.ON, 10, "ON again, by AutoConnect")
        assert dev.Reconnects >= 1
        assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")


def test_back_within_a_second_of_a_long_outage(protocol: int, fault_matrix: FaultMatrix) -> None:
    """However long the PC was away (the back-off has reached its longest delay), the device is
    ON again within a second of the PC coming back."""
    with (
        pc_with(protocol, [], AutoConnect=True) as (sim, dev),
        fault_matrix.case("PC away, back-off at its longest", protocol) as case,
    ):
        wait_until(lambda: dev.State() == DevState.ON, what="ON")
        errors = dev.Errors
        sim.stop()
        # The loss, then failed attempts 0.25, 0.5, 0.5 and 0.5 s apart: the longest delay.
        wait_until(lambda: dev.Errors >= errors + 5, 10, "five failures")
        assert dev.State() == DevState.FAULT
        case.outcome = f"{dev.State()}, {dev.Errors - errors} failures while away"
        sim.start()  # the same port
        recovered(case, lambda: dev.State() == DevState.ON, 5, "ON again, by AutoConnect")
        assert case.recovered is not None and case.recovered < 1
        assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")


def test_restart_seen_by_event_subscribers(protocol: int) -> None:
    with pc_with(protocol, [], AutoConnect=True) as (sim, dev):
        wait_until(lambda: dev.State() == DevState.ON, what="ON")
        states: list[object] = []
        event_id = dev.subscribe_event(
            "State",
            tango.EventType.CHANGE_EVENT,
            lambda event: states.append(None if event.err else event.attr_value.value),
        )
        try:
            sim.restart()
            wait_until(lambda: states[-1:] == [DevState.ON] and DevState.FAULT in states, 10)
        finally:
            dev.unsubscribe_event(event_id)
        assert dev.Reconnects == 1


def test_silent_peer(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, ["silent"], ConnectTimeout=1.0) as (_, dev),
        fault_matrix.case("silent", protocol) as case,
    ):
        assert dev.State() == DevState.OFF
        why, took = timed_failure(dev.Connect, case)
        assert why == "CCDPC_Timeout"
        assert took < CLIENT_TIMEOUT
        assert dev.State() == DevState.FAULT
        assert "timeout" in dev.LastError
        case.outcome = outcome(why, dev)


def test_wrong_version(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, ["wrong-version"]) as (_, dev),
        fault_matrix.case("wrong-version", protocol) as case,
    ):
        why, _ = timed_failure(dev.Connect, case)
        assert why == "CCDPC_ProtocolError"
        assert dev.State() == DevState.FAULT
        assert "CCDPC/9" in dev.Status()
        case.outcome = outcome(why, dev)


@pytest.mark.parametrize("fault", ["garbage", "huge-length"])
def test_protocol_violation(protocol: int, fault: str, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, [fault]) as (_, dev),
        fault_matrix.case(fault, protocol) as case,
    ):
        dev.Connect()
        why, took = timed_failure(lambda: dev.Command("IDENT"), case)
        assert why == "CCDPC_ProtocolError"
        assert took < CLIENT_TIMEOUT
        assert dev.State() == DevState.FAULT
        assert "protocolerror" in dev.Status()
        case.outcome = outcome(why, dev)


def test_connection_closed_under_a_reply(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, ["close-mid"]) as (_, dev),
        fault_matrix.case("close-mid", protocol) as case,
    ):
        dev.Connect()
        if protocol == 3:  # the session resumes and the reply is sent again, whole
            start = time.monotonic()
            assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
            case.seconds = time.monotonic() - start
            assert dev.Reconnects == 1
            assert dev.State() == DevState.ON
            case.outcome = f"ok: resumed, reply sent again, {dev.State()}"
            return
        why, took = timed_failure(lambda: dev.Command("IDENT"), case)
        assert why == "CCDPC_EmptyPacket"
        assert took < CLIENT_TIMEOUT
        assert dev.State() == DevState.FAULT
        case.outcome = outcome(why, dev)


def test_connection_reset_at_every_command(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, ["reset"]) as (sim, dev),
        fault_matrix.case("reset", protocol) as case,
    ):
        dev.Connect()
        why, took = timed_failure(lambda: dev.Command("IDENT"), case)
        assert took < CLIENT_TIMEOUT
        if protocol == 3:
            # Its resumes are reset as well: the link is lost, the session and the command kept.
            assert why == "CCDPC_Timeout"
            wait_until(lambda: dev.State() == DevState.FAULT, what="FAULT after the resumes")
            assert f"Link to {sim.hostname} lost (" in dev.Status()
            assert "kept. Resuming it: attempt " in dev.Status()
            case.outcome = outcome(why, dev)
            sim.set_faults([])
            recovered(case, lambda: dev.State() == DevState.ON, 10, "ON once resumed")
            assert bytes(dev.Receive(2000)).startswith(b"KAPPACCD-SIM ")  # once, not lost
        else:
            assert why == "CCDPC_Error"
            assert dev.State() == DevState.FAULT
            assert "Socket died on us." in dev.Status()
            case.outcome = outcome(why, dev)


def test_bad_crc(fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(3, ["bad-crc"]) as (_, dev),
        fault_matrix.case("bad-crc", 3) as case,
    ):
        dev.Connect()
        why, _ = timed_failure(lambda: dev.Command("IDENT"), case)
        assert why == "CCDPC_ProtocolError"
        assert dev.State() == DevState.FAULT
        case.outcome = outcome(why, dev)


def test_dropped_session_resumes(fault_matrix: FaultMatrix) -> None:
    with (
        Simulator(protocol=3, faults=["drop-session"], drop_after=200) as sim,
        device_server({"Host": sim.hostname}) as dev,
        fault_matrix.case("drop-session", 3) as case,
    ):
        wait_until(lambda: dev.State() == DevState.ON, what="ON")
        start = time.monotonic()
        for _ in range(5):
            assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
        case.seconds = time.monotonic() - start
        assert dev.Reconnects >= 1
        assert dev.State() == DevState.ON
        case.outcome = f"ok: 5 commands over {dev.Reconnects} resumes, {dev.State()}"


def test_another_client_holds_the_pc(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, []) as (sim, dev),
        ccdpc.CCDPC(sim.hostname),
        fault_matrix.case("second client", protocol) as case,
    ):
        start = time.monotonic()
        if protocol == 3:  # refused when opening the session
            why, _ = timed_failure(dev.Connect)
            assert why == "CCDPC_Error"
            case.outcome = f"DevFailed {why}, "
        else:  # greeted, then refused
            dev.Connect()
            case.outcome = "Connect ok, then "
        wait_until(lambda: dev.State() == DevState.FAULT, what="FAULT: refused")
        case.seconds = time.monotonic() - start
        case.outcome += str(dev.State())
        assert "another client is connected" in dev.Status()


def test_another_client_refusal_answers_a_command() -> None:
    with pc_with(2, []) as (sim, dev), ccdpc.CCDPC(sim.hostname):
        dev.Connect()
        why, _ = timed_failure(lambda: dev.Command("IDENT"))  # sent before the refusal came
        assert why == "CCDPC_Busy"
        wait_until(lambda: dev.State() == DevState.FAULT, what="FAULT: refused")
        assert "refused this client: another client is connected" in dev.Status()


def test_detector_commands_answer_while_the_pc_stalls() -> None:
    # FirstPacketTimeout long: the link is not declared hung meanwhile, so every call meets
    # the stall itself (the worker's waits, the queue behind them), not a quick NotConnected.
    folder = tempfile.gettempdir()  # SaveFrame on (nothing is written: there is no frame)
    with pc_with(2, ["stall-first"], FirstPacketTimeout=30, DataFolder=folder) as (_, dev):
        dev.Connect()
        expected = {
            "Acquire": "CCDPC_Timeout",  # EXPOSE sent, never answered
            "Expose": "CCDPC_Busy",  # one operation at a time
            "ReadFrame": "CCDPC_Busy",
            "Abort": "CCDPC_Timeout",  # ABORT sent after EXPOSE, never answered either
            "SaveFrame": "CCDPC_NoFrame",
        }
        calls: dict[str, Callable[[], object]] = {
            "Acquire": lambda: dev.Acquire(1),
            "Expose": lambda: dev.Expose(1),
            "ReadFrame": dev.ReadFrame,
            "Abort": dev.Abort,
            "SaveFrame": lambda: dev.SaveFrame("never.kcd"),
        }
        for name, call in calls.items():
            why, took = timed_failure(call)
            assert (why, took < CLIENT_TIMEOUT) == (expected[name], True), name
        for name in ("Temperature", "DetectorState", "Frame", "Progress", "FrameNumber"):
            start = time.monotonic()
            value = dev.read_attribute(name)
            assert time.monotonic() - start < CLIENT_TIMEOUT, name
            if name in ("Temperature", "DetectorState", "Frame"):
                assert value.quality == tango.AttrQuality.ATTR_INVALID, name
        assert dev.State() == DevState.RUNNING
        assert "awaiting the reply to 'EXPOSE 1.000 1'" in dev.Status()


def test_detector_commands_answer_during_a_long_transfer() -> None:
    with pc_with(1, [], AutoConnect=True) as (sim, dev):
        wait_until(lambda: dev.State() == DevState.ON, what="ON")
        dev.Acquire(0)
        wait_until(lambda: dev.FrameNumber == 1, 5, "a first frame")
        sim.set_faults(["trickle"])  # 2.86 MB one byte at a time: minutes
        dev.ReadFrame()
        wait_until(lambda: dev.State() == DevState.RUNNING, 2, "transferring")
        for call in (lambda: dev.Acquire(0), lambda: dev.Expose(0), dev.ReadFrame):
            why, took = timed_failure(call)
            assert (why, took < 0.5) == ("CCDPC_Busy", True)
        start = time.monotonic()
        dev.Abort()  # the transfer cannot be cut: its frame will be dropped
        assert time.monotonic() - start < 0.5
        temperature = dev.read_attribute("Temperature")  # TEMP waits behind the transfer
        assert temperature.quality == tango.AttrQuality.ATTR_INVALID
        assert dev.DetectorState == 0
        assert dev.Frame.shape == (1152, 1242)  # the first frame, still shown
        assert time.monotonic() - start < 2 * CLIENT_TIMEOUT
        dev.Disconnect()  # closes the connection under the transfer
        wait_until(lambda: dev.State() == DevState.OFF, 3, "OFF after Disconnect")
        assert dev.FrameNumber == 1


def test_slow_network(protocol: int, fault_matrix: FaultMatrix) -> None:
    with (
        pc_with(protocol, ["slow"], {"seed": 3}) as (_, dev),
        fault_matrix.case("slow", protocol) as case,
    ):
        start = time.monotonic()
        dev.Connect()
        assert dev.Command("IDENT").startswith("KAPPACCD-SIM 000003 ")
        dev.Binning = 2
        dev.Acquire(0)  # 715 kB in 490 chunks of 1460 bytes, 2 ms apart
        wait_until(lambda: dev.FrameNumber == 1, 10, "the frame")
        pixels = synthetic_frame(621, 576, 3, 1)
        assert np.array_equal(dev.Frame, np.frombuffer(pixels, "<u2").reshape(576, 621))
        wait_until(lambda: dev.State() == DevState.ON, 5, "ON once the frame is in")
        case.seconds = time.monotonic() - start
        case.outcome = f"ok: commands, a binned frame pixel-exact, {dev.State()}"


@pytest.mark.parametrize(
    ("fault", "options", "message"),
    [
        ("slow", {"slow_chunk": 8, "slow_delay": 2.0}, "Incomplete packet received"),
        ("header-only", {}, "Incomplete packet received"),
        ("half-close", {}, "Invalid packet received after 0 other packets"),
    ],
    ids=["slow", "header-only", "half-close"],
)
def test_link_lost_then_repaired(
    protocol: int, fault_matrix: FaultMatrix, fault: str, options: dict[str, Any], message: str
) -> None:
    # slow: 8 bytes, then 2 s to the next chunk, more than the PacketTimeout.
    scenario = "slow, a chunk late" if fault == "slow" else fault
    with (
        pc_with(protocol, [], options, PacketTimeout=0.5, ConnectTimeout=1.0) as (sim, dev),
        fault_matrix.case(scenario, protocol) as case,
    ):
        dev.Connect()
        sim.set_faults([fault])
        if protocol == 3 and fault == "header-only":
            # The resume gets the reply again, whole: retransmissions are sent intact.
            start = time.monotonic()
            assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
            case.seconds = time.monotonic() - start
            assert message in dev.LastError
            assert (dev.Reconnects, dev.State()) == (1, DevState.ON)
            case.outcome = f"ok: resumed, reply sent again, {dev.State()}"
            return
        why, took = timed_failure(lambda: dev.Command("IDENT"), case)
        assert took < CLIENT_TIMEOUT
        if protocol == 3:  # the session is kept and resumed: the device's wait ends first
            assert why == "CCDPC_Timeout"
            wait_until(lambda: message in dev.LastError, 3, "the failure seen")
            assert dev.State() == DevState.FAULT
            assert "kept. Resuming it: attempt " in dev.Status()
            case.outcome = outcome(why, dev)
            sim.set_faults([])
            recovered(case, lambda: dev.State() == DevState.ON, 10, "ON once resumed")
            assert bytes(dev.Receive(2000)).startswith(b"KAPPACCD-SIM ")  # once, not lost
            return
        expected = "CCDPC_EmptyPacket" if fault == "half-close" else "CCDPC_Timeout"
        assert why == expected
        assert dev.State() == DevState.FAULT
        assert message in dev.Status()
        case.outcome = outcome(why, dev)
        sim.set_faults([])
        with case.recovery():
            dev.Connect()
            assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
        assert dev.State() == DevState.ON


def test_connection_refused(protocol: int, fault_matrix: FaultMatrix) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # nothing listens there once it is closed
    with (
        device_server({"Host": f"127.0.0.1:{port}", "AutoConnect": False}) as dev,
        fault_matrix.case("connection refused", protocol) as case,
    ):
        why, took = timed_failure(dev.Connect, case)
        assert (why, took < 1) == ("CCDPC_Error", True)
        assert dev.State() in (DevState.OFF, DevState.FAULT)
        assert f"Cannot connect to 127.0.0.1:{port}" in dev.LastError
        case.outcome = outcome(why, dev)
        with Simulator(protocol=protocol, port=port):  # the PC is back, on that port
            with case.recovery():
                dev.Connect()
                assert dev.Command("STATUS").startswith("IDLE")
            assert case.recovered is not None and case.recovered < 1
            assert dev.State() == DevState.ON


def test_unresolvable_host(fault_matrix: FaultMatrix) -> None:
    """Nothing to recover from but the configuration: the device says why, every time, quickly
    (a device test context has no database in which to set Host right)."""
    with (
        device_server({"Host": "no-such-host.invalid", "AutoConnect": False}) as dev,
        fault_matrix.case("unresolvable host") as case,
    ):
        for _ in range(2):
            why, took = timed_failure(dev.Connect, case)
            assert (why, took < CLIENT_TIMEOUT) == ("CCDPC_Error", True)
            assert dev.State() in (DevState.OFF, DevState.FAULT)
            assert "Cannot resolve host 'no-such-host.invalid'" in dev.LastError
        case.outcome = outcome(why, dev)
        assert timed_failure(lambda: dev.Command("STATUS"))[0] == "CCDPC_NotConnected"
