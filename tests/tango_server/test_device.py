"""The CCDPC device against a simulator of each generation, through a real DeviceProxy.

One simulator and one device server per generation, shared by the tests of this module; each test
leaves the device connected, idle and with nothing pending.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator
from tango_server.link.state import LinkState

from .conftest import wait_until
from .devices import device_server, drain, reason

FRAME_BYTES = 1242 * 1152 * 2
CLASSES = {1: "StandardCCDPC", 2: "NewCCDPC", 3: "CCDPC3"}


@pytest.fixture(scope="module", params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def pc(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, tango.DeviceProxy]]:
    with Simulator(protocol=request.param) as sim, device_server({"Host": sim.hostname}) as dev:
        wait_until(lambda: dev.State() == DevState.ON, what="ON after start")
        yield sim, dev


@pytest.fixture
def sim(pc: tuple[Simulator, tango.DeviceProxy]) -> Simulator:
    return pc[0]


@pytest.fixture
def dev(pc: tuple[Simulator, tango.DeviceProxy]) -> Iterator[tango.DeviceProxy]:
    sim, dev = pc
    yield dev
    sim.set_faults([])
    sim.detector.reset()
    dev.Connect()
    drain(dev)
    dev.Tracing = False


def test_identity_attributes(sim: Simulator, dev: tango.DeviceProxy) -> None:
    assert dev.ProtocolVersion == sim.protocol
    assert dev.ProtocolClass == CLASSES[sim.protocol]
    assert dev.ServerVersion == f"{sim.protocol}.0"
    assert dev.ConnectionState == LinkState.CONNECTED
    assert dev.Host == "127.0.0.1"
    assert dev.Port == sim.port
    assert dev.State() == DevState.ON
    assert f"Connected to {sim.hostname}" in dev.Status()


def test_attributes_describe_themselves(dev: tango.DeviceProxy) -> None:
    counter = dev.get_attribute_config("BytesReceived")
    assert (counter.label, counter.unit, counter.format) == ("Bytes received", "B", "%d")
    assert counter.description.startswith("Bytes received")
    enum = dev.get_attribute_config("ConnectionState")
    assert list(enum.enum_labels) == ["DISCONNECTED", "CONNECTING", "CONNECTED", "BUSY", "FAULT"]
    assert dev.get_attribute_config("Tracing").writable == tango.AttrWriteType.READ_WRITE


def test_text_commands(dev: tango.DeviceProxy) -> None:
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
    assert -100 < float(dev.Command("TEMP")) < 0
    assert dev.Command("status").startswith("IDLE frames=")
    assert dev.Command("SHUTTER OPEN") == "SHUTTER OPEN"


def test_send_then_receive(dev: tango.DeviceProxy) -> None:
    dev.Send(np.frombuffer(b"IDENT", np.uint8))
    reply = dev.Receive(2000)
    assert isinstance(reply, np.ndarray)
    assert reply.dtype == np.uint8
    assert bytes(reply).startswith(b"KAPPACCD-SIM ")
    assert dev.PendingPackets == 0


def test_send_receive(dev: tango.DeviceProxy) -> None:
    reply = dev.SendReceive(np.frombuffer(b"TEMP", np.uint8))
    assert -100 < float(bytes(reply)) < 0


def test_receive_timeout_loses_nothing(sim: Simulator, dev: tango.DeviceProxy) -> None:
    sim.set_faults(["trickle"])  # the reply comes byte by byte: still arriving at first
    dev.Send(b"IDENT")
    with pytest.raises(tango.DevFailed) as exc:
        dev.Receive(0)
    assert reason(exc) == "CCDPC_Timeout"
    assert bytes(dev.Receive(2000)).startswith(b"KAPPACCD-SIM ")
    sim.set_faults([])
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")  # still in step


def test_error_reply_is_alarm_until_a_good_one(dev: tango.DeviceProxy) -> None:
    errors = dev.Errors
    with pytest.raises(tango.DevFailed) as exc:
        dev.Command("FROBNICATE")
    assert reason(exc) == "CCDPC_CommandFailed"
    assert "unknown command FROBNICATE" in exc.value.args[0].desc
    assert dev.State() == DevState.ALARM
    assert "FROBNICATE" in dev.Status()
    assert dev.Errors == errors + 1
    assert "FROBNICATE" in dev.LastError
    dev.Command("IDENT")
    assert dev.State() == DevState.ON


def test_pc_error_status_is_alarm(sim: Simulator, dev: tango.DeviceProxy) -> None:
    sim.detector.fail("cooling lost")
    assert dev.Command("STATUS").startswith("ERROR cooling lost")
    assert dev.State() == DevState.ALARM
    assert "cooling lost" in dev.Status()
    sim.detector.reset()
    assert dev.Command("STATUS").startswith("IDLE")
    assert dev.State() == DevState.ON


def test_receive_of_an_error_reply_raises(dev: tango.DeviceProxy) -> None:
    dev.Send(b"EXPOSE -1")
    with pytest.raises(tango.DevFailed) as exc:
        dev.Receive(2000)
    assert reason(exc) == "CCDPC_CommandFailed"
    assert "bad argument" in exc.value.args[0].desc


def test_disconnect_connect_reconnect(dev: tango.DeviceProxy) -> None:
    reconnects = dev.Reconnects
    dev.Disconnect()
    assert dev.State() == DevState.OFF
    assert dev.ConnectionState == LinkState.DISCONNECTED
    assert "use Connect" in dev.Status()
    version = dev.read_attribute("ProtocolVersion")
    assert version.quality == tango.AttrQuality.ATTR_INVALID
    assert dev.read_attribute("ProtocolClass").quality == tango.AttrQuality.ATTR_INVALID
    calls: list[Callable[[], object]] = [
        lambda: dev.Command("IDENT"),
        lambda: dev.Send(b"IDENT"),
        lambda: dev.Receive(0),
    ]
    for call in calls:
        with pytest.raises(tango.DevFailed) as exc:
            call()
        assert reason(exc) == "CCDPC_NotConnected"
    dev.Disconnect()  # twice is fine
    dev.Connect()
    assert dev.State() == DevState.ON
    dev.Connect()  # so is this
    dev.Reconnect()
    assert dev.State() == DevState.ON
    assert dev.Reconnects == reconnects + 2
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")


def test_frame_transfer(dev: tango.DeviceProxy) -> None:
    received = dev.BytesReceived
    dev.Send(b"EXPOSE 0")
    assert bytes(dev.Receive(2000)).startswith(b"EXPOSING 0.000")
    wait_until(lambda: dev.Command("STATUS") == "IDLE frames=1", what="a frame taken")
    drain(dev)  # the events of the exposure
    dev.Send(b"READ")
    assert bytes(dev.Receive(2000)) == b"FRAME 1242 1152"
    frame = dev.Receive(2000)
    assert frame.dtype == np.uint8
    assert frame.size == FRAME_BYTES
    assert dev.BytesReceived >= received + FRAME_BYTES
    assert dev.State() == DevState.ON


def test_bad_inputs_are_refused_cleanly(dev: tango.DeviceProxy) -> None:
    calls: dict[str, Callable[[], object]] = {
        "empty Send": lambda: dev.Send(np.zeros(0, np.uint8)),
        "empty SendReceive": lambda: dev.SendReceive(np.zeros(0, np.uint8)),
        "empty Command": lambda: dev.Command(""),
        "oversize Send": lambda: dev.Send(np.full(5000, ord("A"), np.uint8)),
        "oversize Command": lambda: dev.Command("IDENT " + "X" * 5000),
        "non-ASCII Command": lambda: dev.Command("TEMP \xe9"),
        "negative Receive": lambda: dev.Receive(-1),
    }
    for what, call in calls.items():
        with pytest.raises(tango.DevFailed) as exc:
            call()
        assert reason(exc) == "CCDPC_BadArgument", what
    start = time.monotonic()
    with pytest.raises(tango.DevFailed) as exc:
        dev.Receive(2**31 - 1)  # capped: answers well within the client's timeout
    assert reason(exc) == "CCDPC_Timeout"
    assert time.monotonic() - start < 2.8
    assert dev.State() == DevState.ON
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")


def test_tracing(dev: tango.DeviceProxy) -> None:
    assert not dev.Tracing
    dev.Tracing = True
    dev.Command("IDENT")
    lines = dev.Trace
    assert any(" > " in line for line in lines)
    assert any(" < " in line and "KAPPACCD" in line for line in lines)
    dev.Tracing = False
    dev.Command("IDENT")
    assert list(dev.Trace) == list(lines)


def test_counters(dev: tango.DeviceProxy) -> None:
    before = [dev.BytesSent, dev.BytesReceived, dev.PacketsSent, dev.PacketsReceived]
    dev.Command("IDENT")
    after = [dev.BytesSent, dev.BytesReceived, dev.PacketsSent, dev.PacketsReceived]
    assert all(b > a for a, b in zip(before, after, strict=True))


def test_change_events(dev: tango.DeviceProxy) -> None:
    events: queue.Queue[tuple[str, object]] = queue.Queue()

    def push(event: tango.EventData) -> None:
        if not event.err:
            events.put((event.attr_value.name.lower(), event.attr_value.value))

    def expect(name: str, value: object) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                if events.get(timeout=0.1) == (name.lower(), value):
                    return
        raise AssertionError(f"no event {name} = {value}")

    names = ["State", "ConnectionState", "PendingPackets", "PacketsSent"]
    ids = [dev.subscribe_event(name, tango.EventType.CHANGE_EVENT, push) for name in names]
    try:
        expect("State", DevState.ON)  # the first event is the value at subscription
        dev.Disconnect()
        expect("State", DevState.OFF)
        expect("ConnectionState", LinkState.DISCONNECTED)
        dev.Connect()
        expect("State", DevState.ON)
        sent = dev.PacketsSent
        dev.Send(b"IDENT")
        expect("PendingPackets", 1)
        expect("PacketsSent", sent + 1)
        dev.Receive(0)
        expect("PendingPackets", 0)
    finally:
        for event_id in ids:
            dev.unsubscribe_event(event_id)


def test_init_builds_a_new_link(dev: tango.DeviceProxy) -> None:
    dev.Command("IDENT")
    start = time.monotonic()
    dev.Init()
    assert time.monotonic() - start < 2.5
    wait_until(lambda: dev.State() == DevState.ON, what="ON after Init")
    assert (dev.Reconnects, dev.Errors) == (0, 0)
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
