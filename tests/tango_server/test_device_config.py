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
from tango_server.state import LinkState

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
    "test/bad/flag": ({"Host": "localhost", "AutoConnect": "maybe"}, "'AutoConnect'"),
}


@pytest.fixture(scope="module")
def devices() -> Iterator[tuple[Simulator, dict[str, tango.DeviceProxy]]]:
    with Simulator(protocol=2) as sim:
        good: dict[str, dict[str, Any]] = {
            "test/good/hostport": {"Host": sim.hostname},
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
