"""Every exception the device can meet -> its stable DevFailed reason."""

from __future__ import annotations

import pytest
import tango  # type: ignore[import-untyped]

import ccdpc
from tango_server.errors import raise_devfailed, reason_for
from tango_server.link.settings import BadProperty
from tango_server.link.state import LinkBusy, NoFrame, NotConnected, WaitTimeout


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ccdpc.timeout("select interrupted by timeout"), "CCDPC_Timeout"),
        (WaitTimeout("no reply yet"), "CCDPC_Timeout"),
        (ccdpc.emptypacket("closed"), "CCDPC_EmptyPacket"),
        (ccdpc.protocolerror("bad header"), "CCDPC_ProtocolError"),
        (ccdpc.error("Socket died on us."), "CCDPC_Error"),
        (ccdpc.SessionLost("session 7 lost"), "CCDPC_Error"),
        (NotConnected("not connected"), "CCDPC_NotConnected"),
        (LinkBusy("withdrawn"), "CCDPC_Busy"),
        (ccdpc.CommandError("exposing", busy=True), "CCDPC_Busy"),
        (ccdpc.CommandError("unknown command X"), "CCDPC_CommandFailed"),
        (NoFrame("no frame yet"), "CCDPC_NoFrame"),
        (ValueError("a command holds at most 4096 bytes"), "CCDPC_BadArgument"),
        (BadProperty("Port", "not a port"), "CCDPC_BadArgument"),
        (RuntimeError("a bug"), "CCDPC_Error"),
    ],
)
def test_reasons(exc: BaseException, expected: str) -> None:
    assert reason_for(exc) == expected


def test_devfailed_carries_reason_description_origin() -> None:
    with pytest.raises(tango.DevFailed) as info:
        raise_devfailed(ccdpc.emptypacket("Invalid packet received"), "CCDPC.Command")
    error = info.value.args[0]
    assert (error.reason, error.desc, error.origin) == (
        "CCDPC_EmptyPacket",
        "Invalid packet received",
        "CCDPC.Command",
    )
