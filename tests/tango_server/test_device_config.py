"""Device properties: good ones in every form, bad ones giving FAULT with a Status that names them.

All the devices of this module live in one server process: a bad property must not take down the
server, nor its neighbours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator
from tango_server.link.state import LinkState

from .conftest import wait_until
from .devices import device_servers, reason

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "test/bad/nohost": ({}, "Property Host"),
    "test/bad/host": ({"Host": "a:b:c"}, "Property Host"),
    "test/bad/porttype": ({"Host": "localhost", "Port": "ninety"}, "'Port'"),
    "test/bad/portrange": ({"Host": "localhost", "Port": 70000}, "Property Port"),
    "test/bad/portclash": ({"Host": "localhost:9000", "Port": 9001}, "Property Port"),
    "test/bad/timeout": ({"Host": "localhost", "ConnectTimeout": -1}, "Property ConnectTimeout"),
    "test/bad/nan": ({"Host": "localhost", "PacketTimeout": "nan"}, "Property PacketTimeout"),
    "test/bad/first": ({"Host": "localhost", "FirstPacketTimeout": 0}, "FirstPacketTimeout"),
    "test/bad/size": ({"Host": "localhost", "MaxPacketSize": 0}, "Property MaxPacketSize"),
    "test/bad/idle": ({"Host": "localhost", "ReceiverTimeout": -5}, "Property ReceiverTimeout"),
    "test/bad/flag": ({"Host": "localhost", "AutoConnect": "maybe"}, "'AutoConnect'"),
    "test/bad/nofolder": ({"Host": "localhost", "DataFolder": "/nonexistent/ccdpc"}, "DataFolder"),
    "test/bad/file": ({"Host": "localhost", "DataFolder": __file__}, "Property DataFolder"),
    "test/bad/relative": ({"Host": "localhost", "DataFolder": "frames"}, "Property DataFolder"),
}


@pytest.fixture(scope="module")
def devices(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Simulator, dict[str, tango.DeviceProxy]]]:
    folder = str(tmp_path_factory.mktemp("frames"))
    with Simulator(protocol=2) as sim:
        good: dict[str, dict[str, Any]] = {
            "test/good/hostport": {"Host": sim.hostname},
            "test/good/overwrite": {
                "Host": sim.hostname,
                "AutoConnect": False,
                "DataFolder": folder,
                "AllowOverwrite": True,
            },
            "test/good/port": {"Host": sim.host, "Port": sim.port, "Debug": True},
            "test/good/manual": {"Host": sim.hostname, "AutoConnect": False},
            "test/good/small": {"Host": sim.hostname, "AutoConnect": False, "MaxPacketSize": 16},
        }
        bad = {name: properties for name, (properties, _) in BAD.items()}
        with device_servers({**good, **bad}) as proxies:
            yield sim, proxies


def only(devices: tuple[Simulator, dict[str, tango.DeviceProxy]], name: str) -> tango.DeviceProxy:
    """The device `name`, connected; the other good ones disconnected (the PC takes only one)."""
    for other, dev in devices[1].items():
        if other.startswith("test/good/") and other != name:
            dev.Disconnect()
    dev = devices[1][name]
    dev.Connect()
    return dev


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_property_is_fault_naming_it(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]], name: str
) -> None:
    dev = devices[1][name]
    assert dev.State() == DevState.FAULT
    assert BAD[name][1] in dev.Status()
    assert dev.ConnectionState == LinkState.FAULT
    assert BAD[name][1] in dev.LastError
    with pytest.raises(tango.DevFailed) as exc:
        dev.Command("IDENT")
    assert reason(exc) == "CCDPC_NotConnected"
    assert BAD[name][1] in exc.value.args[0].desc
    assert dev.read_attribute("ProtocolVersion").quality == tango.AttrQuality.ATTR_INVALID


def test_host_with_port_and_port_property(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]],
) -> None:
    sim = devices[0]
    for name in ("test/good/hostport", "test/good/port"):
        dev = only(devices, name)
        assert dev.State() == DevState.ON
        assert (dev.Host, dev.Port) == (sim.host, sim.port)


def test_debug_property_starts_tracing(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]],
) -> None:
    dev = devices[1]["test/good/port"]
    assert dev.Tracing
    only(devices, "test/good/port")
    dev.Command("IDENT")
    assert any("KAPPACCD" in line for line in dev.Trace)
    dev.Disconnect()


def test_no_autoconnect_waits_for_connect(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]],
) -> None:
    dev = devices[1]["test/good/manual"]
    assert dev.State() == DevState.OFF
    assert "use Connect" in dev.Status()
    only(devices, "test/good/manual")
    assert dev.State() == DevState.ON
    dev.Disconnect()


def test_max_packet_size_refuses_larger_messages(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]],
) -> None:
    dev = only(devices, "test/good/small")
    assert dev.Command("TEMP")  # 5 bytes
    with pytest.raises(tango.DevFailed) as exc:
        dev.Command("IDENT")  # 25 bytes: over the 16 allowed
    assert reason(exc) == "CCDPC_ProtocolError"
    assert dev.State() == DevState.FAULT
    assert "over the limit of 16" in dev.Status()


def test_a_waiting_client_does_not_block_another(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]],
) -> None:
    dev = only(devices, "test/good/manual")
    other = tango.DeviceProxy(dev.name())  # a second client of the same device
    calling = threading.Event()
    reasons: list[str] = []

    def receive() -> None:
        calling.set()
        with pytest.raises(tango.DevFailed) as exc:
            dev.Receive(2000)  # nothing will come: the longest a command waits
        reasons.append(reason(exc))

    waiting = threading.Thread(target=receive)
    waiting.start()
    assert calling.wait(2)
    start = time.monotonic()
    assert other.State() == DevState.ON  # the device serialises requests: it waits its turn
    assert time.monotonic() - start < 2.5
    waiting.join(5)
    assert reasons == ["CCDPC_Timeout"]
    dev.Disconnect()


def test_detector_attributes_describe_themselves(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]],
) -> None:
    dev = devices[1]["test/good/hostport"]
    described = {
        "Temperature": ("CCD temperature", "degC", "%.1f", "Not specified", "Not specified"),
        "ExposureTime": ("Exposure time", "s", "%.3f", "0", "3600.0"),
        "Binning": ("Binning", "", "%1d", "1", "2"),
        "Progress": ("Progress", "%", "%.1f", "0", "100"),
        "FrameWidth": ("Frame width", "px", "%d", "Not specified", "Not specified"),
        "FrameNumber": ("Frame number", "", "%d", "Not specified", "Not specified"),
        "SessionId": ("Session id", "", "%d", "Not specified", "Not specified"),
    }
    for name, (label, unit, fmt, low, high) in described.items():
        config = dev.get_attribute_config(name)
        assert (config.label, config.unit, config.format) == (label, unit, fmt), name
        assert (config.min_value, config.max_value) == (low, high), name
        assert config.description, name
    frame = dev.get_attribute_config("Frame")
    assert (frame.data_format, frame.data_type) == (tango.AttrDataFormat.IMAGE, tango.DevUShort)
    assert (frame.max_dim_x, frame.max_dim_y) == (1242, 1152)
    state = dev.get_attribute_config("DetectorState")
    assert list(state.enum_labels) == ["IDLE", "EXPOSING", "READING", "ERROR"]
    for name in ("ExposureTime", "Binning"):
        assert dev.get_attribute_config(name).writable == tango.AttrWriteType.READ_WRITE


def test_before_any_frame(devices: tuple[Simulator, dict[str, tango.DeviceProxy]]) -> None:
    dev = only(devices, "test/good/overwrite")
    assert (dev.FrameNumber, dev.Progress) == (0, 0.0)
    for name in ("Frame", "FrameWidth", "FrameHeight"):
        assert dev.read_attribute(name).quality == tango.AttrQuality.ATTR_INVALID, name
    with pytest.raises(tango.DevFailed) as exc:
        dev.SaveFrame("first.kcd")
    assert reason(exc) == "CCDPC_NoFrame"
    with pytest.raises(tango.DevFailed) as exc:
        dev.ReadFrame()  # the PC has none either
    assert (reason(exc), exc.value.args[0].desc) == ("CCDPC_CommandFailed", "no frame")
    assert dev.DetectorState == 0  # IDLE: asked with STATUS
    assert -100 < dev.Temperature < 0
    assert dev.SessionId == 0  # generation 2 has no session
    dev.Disconnect()
    for name in ("DetectorState", "Temperature", "SessionId"):
        assert dev.read_attribute(name).quality == tango.AttrQuality.ATTR_INVALID, name


def test_allow_overwrite(devices: tuple[Simulator, dict[str, tango.DeviceProxy]]) -> None:
    dev = only(devices, "test/good/overwrite")
    dev.Acquire(0)
    wait_until(lambda: dev.FrameNumber >= 1, 5, "a frame")
    first = dev.SaveFrame("same.npy")
    assert dev.SaveFrame("same.npy") == first
    dev.Disconnect()


def test_without_data_folder_saving_is_off(
    devices: tuple[Simulator, dict[str, tango.DeviceProxy]],
) -> None:
    # Not the working directory: under Starter that is Starter's own log folder.
    dev = devices[1]["test/good/hostport"]
    with pytest.raises(tango.DevFailed) as exc:
        dev.SaveFrame("x.kcd")
    assert reason(exc) == "CCDPC_BadArgument"
    assert "the DataFolder property is not set" in exc.value.args[0].desc
