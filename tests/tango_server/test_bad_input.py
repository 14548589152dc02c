"""Bad input at the Tango level (issue 7): wrong types and sizes, odd numbers, every State.

Each case gets a clean refusal (a `DevFailed` with the right reason, or the client library's own
`TypeError` before anything is sent), the server stays up, and the next valid command works.
One simulator and one device server per generation, shared by the module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator

from .conftest import wait_until
from .devices import device_server, device_servers, drain, reason

Call = Callable[[tango.DeviceProxy], object]
CLIENT_TIMEOUT = 3.0


@pytest.fixture(scope="module", params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def pc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Simulator, tango.DeviceProxy]]:
    properties = {"DataFolder": str(tmp_path_factory.mktemp("frames"))}  # SaveFrame on
    with (
        Simulator(protocol=request.param) as sim,
        device_server({"Host": sim.hostname, **properties}) as dev,
    ):
        wait_until(lambda: dev.State() == DevState.ON, what="ON after start")
        yield sim, dev


@pytest.fixture
def dev(pc: tuple[Simulator, tango.DeviceProxy]) -> Iterator[tango.DeviceProxy]:
    sim, dev = pc
    yield dev
    sim.set_faults([])
    dev.Connect()
    if dev.State() == DevState.RUNNING:
        dev.Abort()
    wait_until(lambda: dev.State() in (DevState.ON, DevState.ALARM), 5, "idle after the test")
    sim.detector.reset()
    dev.Binning = 1
    dev.ExposureTime = 0.0
    drain(dev)


def still_works(dev: tango.DeviceProxy) -> None:
    """The server is alive and the link usable: a valid command gets a valid reply."""
    assert dev.State() in (DevState.ON, DevState.ALARM, DevState.RUNNING)
    assert dev.Command("STATUS").split()[0] in ("IDLE", "EXPOSING", "READING")


def refused(
    dev: tango.DeviceProxy, call: Call, expected: str | set[str], within: float = CLIENT_TIMEOUT
) -> str:
    """`call(dev)` fails within `within` seconds (the client timeout) with the expected reason;
    the reason."""
    start = time.monotonic()
    with pytest.raises(tango.DevFailed) as exc:
        call(dev)
    assert time.monotonic() - start < within
    got = reason(exc)
    assert got in ({expected} if isinstance(expected, str) else expected), exc.value.args[0].desc
    return got


def data(kind: Any, value: object) -> tango.DeviceData:
    """An argument of the given Tango type, sent as is: the server checks the type, not PyTango."""
    arg = tango.DeviceData()
    arg.insert(kind, value)
    return arg


def chars(size: int, byte: int = ord("A")) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.full(size, byte, np.uint8)


# -- wrong types --------------------------------------------------------------------------------

#: Refused by PyTango in the client, before anything is sent.
CLIENT_TYPE_ERRORS: dict[str, Call] = {
    "Command int": lambda d: d.command_inout("Command", 5),
    "Command list": lambda d: d.command_inout("Command", [1, 2]),
    "Send floats": lambda d: d.command_inout("Send", [1.5, 2.5]),
    "SendReceive floats": lambda d: d.command_inout("SendReceive", [0.5]),
    "Receive str": lambda d: d.command_inout("Receive", "x"),
    "Receive float": lambda d: d.command_inout("Receive", 1.5),
    "Expose str": lambda d: d.command_inout("Expose", "x"),
    "Acquire str": lambda d: d.command_inout("Acquire", "1"),
    "Connect with argument": lambda d: d.command_inout("Connect", 5),
    "SaveFrame int": lambda d: d.command_inout("SaveFrame", 5),
    "ExposureTime str": lambda d: d.write_attribute("ExposureTime", "abc"),
    "Tracing str": lambda d: d.write_attribute("Tracing", "abc"),
}


@pytest.mark.parametrize("name", sorted(CLIENT_TYPE_ERRORS))
def test_wrong_type_refused_by_the_client(dev: tango.DeviceProxy, name: str) -> None:
    with pytest.raises(TypeError):
        CLIENT_TYPE_ERRORS[name](dev)
    still_works(dev)


#: Sent with the wrong Tango type: refused by the server's Tango layer.
SERVER_TYPE_ERRORS: dict[str, Call] = {
    "Command DevLong": lambda d: d.command_inout("Command", data(tango.DevLong, 5)),
    "Send DevString": lambda d: d.command_inout("Send", data(tango.DevString, "IDENT")),
    "Receive DevString": lambda d: d.command_inout("Receive", data(tango.DevString, "1")),
    "Expose DevString": lambda d: d.command_inout("Expose", data(tango.DevString, "1")),
    "Acquire DevLong": lambda d: d.command_inout("Acquire", data(tango.DevLong, 1)),
    "Expose no argument": lambda d: d.command_inout("Expose"),
    "SaveFrame no argument": lambda d: d.command_inout("SaveFrame"),
}


@pytest.mark.parametrize("name", sorted(SERVER_TYPE_ERRORS))
def test_wrong_type_refused_by_the_server(dev: tango.DeviceProxy, name: str) -> None:
    refused(dev, SERVER_TYPE_ERRORS[name], "API_IncompatibleCmdArgumentType")
    still_works(dev)


def test_receive_timeout_too_big_for_a_devlong(dev: tango.DeviceProxy) -> None:
    with pytest.raises(OverflowError):
        dev.Receive(2**40)
    still_works(dev)


def test_unknown_command(dev: tango.DeviceProxy) -> None:
    refused(dev, lambda d: d.command_inout("NoSuchCommand"), "API_CommandNotFound")
    still_works(dev)


# -- sizes --------------------------------------------------------------------------------------

SIZE_ERRORS: dict[str, Call] = {
    "Send 0 bytes": lambda d: d.Send(chars(0)),
    "SendReceive 0 bytes": lambda d: d.SendReceive(chars(0)),
    "Command empty": lambda d: d.Command(""),
    "Send 5000 bytes": lambda d: d.Send(chars(5000)),
    "SendReceive 5000 bytes": lambda d: d.SendReceive(chars(5000)),
    "Send 70 MB": lambda d: huge_send(d, 70 * 1024 * 1024),
    "Command 100000 characters": lambda d: d.Command("X" * 100_000),
}


#: Seconds a client waits for the refusal of 70 MB: they cross CORBA before the device sees
#: them, which takes a loaded machine longer than the default 3 s timeout.
HUGE_WAIT = 20.0


def huge_send(dev: tango.DeviceProxy, size: int) -> None:
    before = dev.get_timeout_millis()
    dev.set_timeout_millis(int(HUGE_WAIT * 1000))
    try:
        dev.Send(chars(size))
    finally:
        dev.set_timeout_millis(before)


@pytest.mark.parametrize("name", sorted(SIZE_ERRORS))
def test_wrong_size(dev: tango.DeviceProxy, name: str) -> None:
    within = HUGE_WAIT if name == "Send 70 MB" else CLIENT_TIMEOUT
    refused(dev, SIZE_ERRORS[name], "CCDPC_BadArgument", within)
    still_works(dev)


def test_81_bytes_is_too_many_for_gen1_only(
    pc: tuple[Simulator, tango.DeviceProxy], dev: tango.DeviceProxy
) -> None:
    payload = np.frombuffer(b"IDENT".ljust(81), np.uint8)
    if pc[0].protocol == 1:
        refused(dev, lambda d: d.Send(payload), "CCDPC_BadArgument")
        assert bytes(dev.SendReceive(payload[:80])).startswith(b"KAPPACCD-SIM ")
    else:  # gen 2/3 messages are longer: the same bytes are a command like any other
        assert bytes(dev.SendReceive(payload)).startswith(b"KAPPACCD-SIM ")
    still_works(dev)


# -- Receive timeouts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout_ms", "expected"),
    [(-1, "CCDPC_BadArgument"), (-(2**31), "CCDPC_BadArgument"), (0, "CCDPC_Timeout")],
)
def test_receive_timeouts(dev: tango.DeviceProxy, timeout_ms: int, expected: str) -> None:
    refused(dev, lambda d: d.Receive(timeout_ms), expected)
    still_works(dev)


def test_receive_longest_timeout_is_capped(dev: tango.DeviceProxy) -> None:
    start = time.monotonic()
    refused(dev, lambda d: d.Receive(2**31 - 1), "CCDPC_Timeout")
    assert time.monotonic() - start < 2.8
    still_works(dev)


# -- text ---------------------------------------------------------------------------------------

TEXT_ERRORS: dict[str, tuple[str, str]] = {
    "non-ASCII": ("température", "CCDPC_BadArgument"),
    "high byte": ("TEMP \xff", "CCDPC_BadArgument"),
    "unknown": ("BOGUS", "CCDPC_CommandFailed"),
    "bad EXPOSE argument": ("EXPOSE abc", "CCDPC_CommandFailed"),
}


@pytest.mark.parametrize("name", sorted(TEXT_ERRORS))
def test_bad_text_command(dev: tango.DeviceProxy, name: str) -> None:
    text, expected = TEXT_ERRORS[name]
    refused(dev, lambda d: d.Command(text), expected)
    still_works(dev)


# -- exposure times and attribute writes ------------------------------------------------------

BAD_SECONDS = {"nan": math.nan, "inf": math.inf, "1e9": 1e9, "3600.5": 3600.5}


@pytest.mark.parametrize("command", ["Expose", "Acquire"])
@pytest.mark.parametrize("seconds", sorted(BAD_SECONDS))
def test_bad_exposure_time(dev: tango.DeviceProxy, command: str, seconds: str) -> None:
    refused(dev, lambda d: d.command_inout(command, BAD_SECONDS[seconds]), "CCDPC_BadArgument")
    assert dev.State() in (DevState.ON, DevState.ALARM)  # nothing started
    still_works(dev)


@pytest.mark.parametrize("seconds", [-1.0, -math.inf, -1e300])
def test_negative_exposure_time_means_the_attribute(dev: tango.DeviceProxy, seconds: float) -> None:
    dev.ExposureTime = 0.25
    dev.Expose(seconds)  # documented: negative takes the ExposureTime attribute
    assert dev.ExposureTime == 0.25
    wait_until(lambda: dev.State() != DevState.RUNNING, 5, "the exposure over")
    still_works(dev)


BAD_WRITES: dict[str, tuple[str, object]] = {
    "Binning 0": ("Binning", 0),
    "Binning 3": ("Binning", 3),
    "Binning -1": ("Binning", -1),
    "ExposureTime -1": ("ExposureTime", -1.0),
    "ExposureTime 3601": ("ExposureTime", 3601.0),
    "ExposureTime nan": ("ExposureTime", math.nan),
    "ExposureTime inf": ("ExposureTime", math.inf),
}


@pytest.mark.parametrize("name", sorted(BAD_WRITES))
def test_attribute_write_out_of_range(dev: tango.DeviceProxy, name: str) -> None:
    attr, value = BAD_WRITES[name]
    before = dev.read_attribute(attr).value
    refused(dev, lambda d: d.write_attribute(attr, value), "API_WAttrOutsideLimit")
    assert dev.read_attribute(attr).value == before
    still_works(dev)


def test_write_of_a_read_only_attribute(dev: tango.DeviceProxy) -> None:
    refused(dev, lambda d: d.write_attribute("Temperature", 5.0), "API_AttrNotWritable")
    still_works(dev)


@pytest.mark.parametrize("path", ["", "../outside.npy", "frame.txt", "/etc/frame.kcd"])
def test_bad_save_frame_name(dev: tango.DeviceProxy, path: str) -> None:
    refused(dev, lambda d: d.SaveFrame(path), "CCDPC_BadArgument")
    still_works(dev)


# -- every State --------------------------------------------------------------------------------

WHEN_OFF: dict[str, tuple[Call, str]] = {
    "Command": (lambda d: d.Command("STATUS"), "CCDPC_NotConnected"),
    "Send": (lambda d: d.Send(b"IDENT"), "CCDPC_NotConnected"),
    "SendReceive": (lambda d: d.SendReceive(b"IDENT"), "CCDPC_NotConnected"),
    "Expose": (lambda d: d.Expose(0.0), "CCDPC_NotConnected"),
    "Acquire": (lambda d: d.Acquire(0.0), "CCDPC_NotConnected"),
    "ReadFrame": (lambda d: d.ReadFrame(), "CCDPC_NotConnected"),
    "Abort": (lambda d: d.Abort(), "CCDPC_NotConnected"),
}


@pytest.mark.parametrize("name", sorted(WHEN_OFF))
def test_commands_when_off(dev: tango.DeviceProxy, name: str) -> None:
    dev.Disconnect()
    wait_until(lambda: dev.State() == DevState.OFF, 2, "OFF after Disconnect")
    call, expected = WHEN_OFF[name]
    refused(dev, call, expected)
    assert dev.State() == DevState.OFF
    dev.Connect()
    still_works(dev)


WHEN_RUNNING: dict[str, tuple[Call, str]] = {
    "Expose": (lambda d: d.Expose(1.0), "CCDPC_Busy"),
    "Acquire": (lambda d: d.Acquire(1.0), "CCDPC_Busy"),
    "ReadFrame": (lambda d: d.ReadFrame(), "CCDPC_Busy"),
    "Command EXPOSE": (lambda d: d.Command("EXPOSE 1"), "CCDPC_Busy"),
}


@pytest.mark.parametrize("name", sorted(WHEN_RUNNING))
def test_commands_when_running(dev: tango.DeviceProxy, name: str) -> None:
    dev.Expose(60.0)
    assert dev.State() == DevState.RUNNING
    call, expected = WHEN_RUNNING[name]
    refused(dev, call, expected)
    still_works(dev)  # STATUS is allowed during an exposure
    assert dev.State() == DevState.RUNNING
    dev.Abort()
    wait_until(lambda: dev.State() in (DevState.ON, DevState.ALARM), 5, "idle after Abort")


@pytest.fixture(scope="module")
def lost() -> Iterator[tuple[Simulator, tango.DeviceProxy]]:
    """A device whose PC has gone (FAULT), AutoConnect false so that it stays so."""
    with (
        Simulator(protocol=2) as sim,
        device_server({"Host": sim.hostname, "AutoConnect": False, "ConnectTimeout": 1}) as dev,
    ):
        yield sim, dev


WHEN_FAULT: dict[str, tuple[Call, str | set[str]]] = {
    "Command": (lambda d: d.Command("STATUS"), "CCDPC_NotConnected"),
    "SendReceive": (lambda d: d.SendReceive(b"IDENT"), "CCDPC_NotConnected"),
    "Expose": (lambda d: d.Expose(0.0), "CCDPC_NotConnected"),
    "ReadFrame": (lambda d: d.ReadFrame(), "CCDPC_NotConnected"),
    "Connect": (lambda d: d.Connect(), {"CCDPC_Error", "CCDPC_Timeout"}),
}


@pytest.mark.parametrize("name", sorted(WHEN_FAULT))
def test_commands_when_the_pc_is_gone(lost: tuple[Simulator, tango.DeviceProxy], name: str) -> None:
    sim, dev = lost
    dev.Connect()
    assert dev.Command("STATUS").startswith("IDLE")
    sim.stop()
    wait_until(lambda: dev.State() == DevState.FAULT, 5, "FAULT once the PC is gone")
    call, expected = WHEN_FAULT[name]
    refused(dev, call, expected)
    sim.start()  # the same port
    dev.Connect()
    wait_until(lambda: dev.State() == DevState.ON, 5, "ON again")
    still_works(dev)


# -- wrong properties ---------------------------------------------------------------------------

BAD_PROPERTIES: dict[str, dict[str, Any]] = {
    "test/prop/portword": {"Host": "127.0.0.1", "Port": "abc"},
    "test/prop/port70000": {"Host": "127.0.0.1", "Port": 70000},
    "test/prop/portneg": {"Host": "127.0.0.1", "Port": -1},
    "test/prop/emptyhost": {"Host": ""},
    "test/prop/blankhost": {"Host": "   "},
}

#: Well-formed, but nothing answers there: the device runs, Connect fails cleanly.
UNREACHABLE: dict[str, dict[str, Any]] = {
    "test/prop/nosuchhost": {"Host": "no-such-host.invalid"},
    "test/prop/port0": {"Host": "127.0.0.1", "Port": 0},  # 0: the default, 9033
}


@pytest.fixture(scope="module")
def configured() -> Iterator[dict[str, tango.DeviceProxy]]:
    common = {"AutoConnect": False, "ConnectTimeout": 1}
    devices = {n: {**common, **p} for n, p in {**BAD_PROPERTIES, **UNREACHABLE}.items()}
    with device_servers(devices) as proxies:
        yield proxies


@pytest.mark.parametrize("name", sorted(BAD_PROPERTIES))
def test_bad_property(configured: dict[str, tango.DeviceProxy], name: str) -> None:
    dev = configured[name]
    assert dev.State() == DevState.FAULT
    assert "Bad configuration" in dev.Status()
    refused(dev, lambda d: d.Command("STATUS"), "CCDPC_NotConnected")
    refused(dev, lambda d: d.Connect(), "CCDPC_NotConnected")
    assert dev.State() == DevState.FAULT  # and the server still answers


@pytest.mark.parametrize("name", sorted(UNREACHABLE))
def test_unreachable_pc(configured: dict[str, tango.DeviceProxy], name: str) -> None:
    dev = configured[name]
    assert dev.State() == DevState.OFF
    refused(dev, lambda d: d.Connect(), {"CCDPC_Error", "CCDPC_Timeout"})
    refused(dev, lambda d: d.Command("STATUS"), "CCDPC_NotConnected")
    assert dev.State() in (DevState.OFF, DevState.FAULT)
