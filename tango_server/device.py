# Tango names commands and attributes in CamelCase (and pytango finds readers as read_<Name>).
# ruff: noqa: N802
"""The `CCDPC` Tango device: properties in, a `Link` built, attributes and commands delegated.

This module has the link level (connection, messages, counters); the detector level (Expose,
Acquire, Frame, ...) is in its base class, `DetectorDevice`. No protocol logic here (that is
`ccdpc`) and no waiting longer than `WAIT` seconds in a Tango thread (the link's worker does the
waiting): a client with the default 3 s timeout always gets an answer, a value or a `DevFailed`
with one of the reasons in `tango_server.errors`.

Green mode: Synchronous, for the whole server. The driver is blocking and thread-safe, and all its
blocking calls run in the link's worker thread; a Tango thread only waits on a condition with a
deadline. Asyncio would add an executor hop to every call for nothing, and gevent would have to
monkey-patch the sockets and threads the driver and the worker rely on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from tango import AttrWriteType, DevState, GreenMode  # type: ignore[import-untyped]
from tango.server import attribute, device_property  # type: ignore[import-untyped]

from .detector_device import WAIT, maybe_invalid
from .detector_device import command_of as _command
from .link import Link
from .link.mailbox import payload_of
from .link.packettrace import TRACE_LINES
from .link.settings import DEFAULT_TIMEOUT, MAX_PACKET_SIZE, settings_from_properties
from .link.state import LinkState
from .publisher import COUNTERS, EVENTS, Publisher
from .series_device import SeriesDevice

__all__ = ["CCDPC", "RECEIVE_CAP", "WAIT"]

#: The most `Receive` waits, whatever the client asks.
RECEIVE_CAP = 2.0
Bytes = npt.NDArray[np.uint8]


def _counter(name: str, label: str, unit: str, doc: str) -> Any:
    return attribute(
        name=name, dtype=int, label=label, unit=unit, format="%d", doc=doc, fget=f"read_{name}"
    )


def _as_array(data: bytes | bytearray) -> Bytes:
    return np.frombuffer(data, dtype=np.uint8)


class CCDPC(SeriesDevice):
    """The control PC of a KappaCCD-style detector, over any of the three protocol generations.

    State: INIT connecting, ON connected and idle, RUNNING an exposure, readout or transfer (or a
    reply) under way, ALARM the PC reported an error, OFF disconnected, FAULT link lost (a
    generation 3 session is being resumed) or unusable configuration.
    """

    green_mode = GreenMode.Synchronous

    # -- properties -------------------------------------------------------------------------

    Host = device_property(
        dtype=str, default_value="", doc="Control PC name or address, optionally 'host:port'"
    )
    Port = device_property(
        dtype=int, default_value=0, doc="TCP port; 0: the one in Host, else 9033"
    )
    ConnectTimeout = device_property(
        dtype=float, default_value=DEFAULT_TIMEOUT, doc="Seconds for connecting and the greeting"
    )
    FirstPacketTimeout = device_property(
        dtype=float,
        default_value=DEFAULT_TIMEOUT,
        doc="Seconds a reply may take to start; after that the link is declared hung",
    )
    PacketTimeout = device_property(
        dtype=float,
        default_value=DEFAULT_TIMEOUT,
        doc="Seconds allowed between two chunks of one message",
    )
    AutoConnect = device_property(
        dtype=bool,
        default_value=True,
        doc="Connect at start-up and reconnect, with back-off, after the link is lost",
    )
    Debug = device_property(
        dtype=bool, default_value=False, doc="Trace packets (attribute Trace) from the start"
    )
    MaxPacketSize = device_property(
        dtype=int,
        default_value=MAX_PACKET_SIZE,
        doc="Largest message payload accepted, in bytes (at most 64 MiB)",
    )

    # -- attributes --------------------------------------------------------------------------

    ProtocolVersion = attribute(
        dtype="DevLong", label="Protocol version", format="%1d", fget="read_ProtocolVersion",
        doc="Protocol generation of the control PC: 1, 2 or 3 (INVALID while disconnected)",
    )  # fmt: skip
    ProtocolClass = attribute(
        dtype=str, label="Protocol class", fget="read_ProtocolClass",
        doc="Driver class of that generation: StandardCCDPC, NewCCDPC or CCDPC3",
    )  # fmt: skip
    ServerVersion = attribute(
        dtype=str, label="Server version", fget="read_ServerVersion",
        doc="Protocol version major.minor the control PC announced in its greeting",
    )  # fmt: skip
    SessionId = attribute(
        dtype="DevLong64", label="Session id", format="%d", fget="read_SessionId",
        doc="Generation 3 session, kept across resumes (0 for generations 1 and 2; INVALID while "
        "disconnected)",
    )  # fmt: skip
    ConnectionState = attribute(
        dtype=LinkState, label="Connection", fget="read_ConnectionState",
        doc="What the link does: DISCONNECTED, CONNECTING, CONNECTED, BUSY or FAULT",
    )  # fmt: skip
    HostAttribute = attribute(
        name="Host", dtype=str, label="Host", fget="read_Host",
        doc="The control PC this device talks to",
    )  # fmt: skip
    PortAttribute = attribute(
        name="Port", dtype="DevLong", label="Port", format="%d", fget="read_Port",
        doc="TCP port of the control PC",
    )  # fmt: skip
    BytesSent = _counter("BytesSent", "Bytes sent", "B", "Bytes sent, across reconnections")
    BytesReceived = _counter(
        "BytesReceived", "Bytes received", "B", "Bytes received, across reconnections"
    )
    PacketsSent = _counter(
        "PacketsSent", "Packets sent", "", "Messages sent (and generation 3 control frames)"
    )
    PacketsReceived = _counter(
        "PacketsReceived", "Packets received", "", "Messages received (and gen. 3 control frames)"
    )
    Reconnects = _counter(
        "Reconnects", "Reconnects", "", "Connections made after the first, and session resumes"
    )
    Errors = _counter(
        "Errors", "Errors", "", "Link failures, failed connection attempts, error replies"
    )
    LastError = attribute(
        dtype=str, label="Last error", fget="read_LastError",
        doc="Time and text of the last error (empty: none yet)",
    )  # fmt: skip
    PendingPackets = attribute(
        dtype="DevLong", label="Pending packets", format="%d", fget="read_PendingPackets",
        doc="Messages received and not yet fetched with Receive",
    )  # fmt: skip
    Trace = attribute(
        dtype=(str,), max_dim_x=TRACE_LINES, label="Packet trace", fget="read_Trace",
        doc=f"The last {TRACE_LINES} packets as hexdump lines, recorded while Tracing is true",
    )  # fmt: skip
    Tracing = attribute(
        dtype=bool, access=AttrWriteType.READ_WRITE, label="Tracing", fget="read_Tracing",
        fset="write_Tracing", doc="Record packets in Trace (starts as the Debug property)",
    )  # fmt: skip

    # -- life cycle --------------------------------------------------------------------------

    def init_device(self) -> None:
        """Read and check the properties, start the link (which connects if AutoConnect)."""
        self._link: Link | None = None
        self._publisher: Publisher | None = None
        self._config_error = ""
        self.init_detector()
        for name in (*EVENTS, *COUNTERS):
            self.set_change_event(name, True, False)
        try:
            super().init_device()
            settings = settings_from_properties(
                self.Host,
                port=self.Port,
                connect_timeout=self.ConnectTimeout,
                first_packet_timeout=self.FirstPacketTimeout,
                packet_timeout=self.PacketTimeout,
                auto_connect=self.AutoConnect,
                debug=self.Debug,
                max_packet_size=self.MaxPacketSize,
            )
        except ValueError as exc:  # also what pytango raises for a value of the wrong type
            self._config_error = f"Bad configuration: {exc}"
            self.error_stream(self._config_error)
            self.set_state(DevState.FAULT)
            self.set_status(self._config_error)
            return
        self._link = Link(settings, listener=self._wake)
        self._publisher = Publisher(self, self._link, self._state_of, self._series_values)
        self._publisher.start()
        self._link.start()
        self.info_stream(f"Link to {settings.hostname}, AutoConnect {settings.auto_connect}")

    def delete_device(self) -> None:
        """Stop the event publisher and the link (closing the connection)."""
        if self._publisher is not None:
            self._publisher.stop()
        if self._link is not None:
            self._link.shutdown(WAIT)
        super().delete_device()

    def dev_state(self) -> Any:
        """Computed from the link at every read: never stale."""
        state, status = self._state_of(self._snapshot())
        self.set_state(state)
        self.set_status(status)
        return state

    def dev_status(self) -> str:
        """Why the device is in its state, in words, with the last error."""
        state, status = self._state_of(self._snapshot())
        self.set_state(state)
        self.set_status(status)
        return status

    # -- commands ----------------------------------------------------------------------------

    @_command()
    def Connect(self) -> None:
        """Connect to the control PC now (no-op when connected)."""
        with self._driver_errors("Connect") as link:
            link.connect(WAIT)

    @_command()
    def Disconnect(self) -> None:
        """Close the connection; no automatic reconnection until Connect or Reconnect."""
        with self._driver_errors("Disconnect") as link:
            link.disconnect(WAIT)

    @_command()
    def Reconnect(self) -> None:
        """Disconnect, then connect again."""
        with self._driver_errors("Reconnect") as link:
            link.reconnect(WAIT)

    @_command(
        dtype_in="DevVarCharArray",
        doc_in="The payload of one message (a command), framed by the active generation",
    )
    def Send(self, payload: Any) -> None:
        """Send one message; its reply (and data) come out of Receive."""
        with self._driver_errors("Send") as link:
            link.send(_to_bytes(payload), WAIT)

    @_command(
        dtype_in="DevLong",
        doc_in=f"Milliseconds to wait for a message (at most {RECEIVE_CAP * 1000:.0f})",
        dtype_out="DevVarCharArray",
        doc_out="The next message: reply or event text as ASCII bytes, or data bytes",
    )
    def Receive(self, timeout_ms: int) -> Bytes:
        """The next message received; CCDPC_Timeout if none comes in time (nothing is lost)."""
        with self._driver_errors("Receive") as link:
            if timeout_ms < 0:
                raise ValueError(f"Timeout {timeout_ms} ms: must be >= 0")
            message = link.receive(min(timeout_ms / 1000, RECEIVE_CAP))
            return _as_array(payload_of(message))

    @_command(
        dtype_in="DevVarCharArray",
        doc_in="The payload of one message (a command)",
        dtype_out="DevVarCharArray",
        doc_out="Its reply's text as ASCII bytes (data after the reply goes to Receive)",
    )
    def SendReceive(self, payload: Any) -> Bytes:
        """Send one message and return its reply."""
        with self._driver_errors("SendReceive") as link:
            reply = link.command(_to_bytes(payload), WAIT)
            return _as_array(reply.text.encode("ascii"))

    @_command(
        dtype_in=str,
        doc_in="A text command: IDENT, STATUS, TEMP, EXPOSE <s> [<bin>], ABORT, ...",
        dtype_out=str,
        doc_out="The text of its reply",
    )
    def Command(self, text: str) -> str:
        """Send a text command and return its reply; the PC saying no is CCDPC_CommandFailed."""
        with self._driver_errors("Command") as link:
            try:
                payload = text.encode("ascii")
            except UnicodeEncodeError:
                raise ValueError(f"Commands are ASCII text: {text!r}") from None
            return link.command(payload, WAIT).text

    # -- attribute readers -------------------------------------------------------------------

    def read_ProtocolVersion(self) -> Any:
        snap = self._snapshot()
        return maybe_invalid(snap.protocol_version, bool(snap.protocol_version))

    def read_ProtocolClass(self) -> Any:
        snap = self._snapshot()
        return maybe_invalid(snap.protocol_class, bool(snap.protocol_version))

    def read_ServerVersion(self) -> Any:
        snap = self._snapshot()
        return maybe_invalid(snap.server_version, bool(snap.protocol_version))

    def read_SessionId(self) -> Any:
        snap = self._snapshot()
        return maybe_invalid(snap.session_id, bool(snap.protocol_version))

    def read_ConnectionState(self) -> LinkState:
        return self._snapshot().state

    def read_Host(self) -> str:
        return self._link.settings.host if self._link is not None else str(self.Host or "")

    def read_Port(self) -> int:
        return self._link.settings.port if self._link is not None else 0

    def read_BytesSent(self) -> int:
        return self._snapshot().counters.bytes_sent

    def read_BytesReceived(self) -> int:
        return self._snapshot().counters.bytes_received

    def read_PacketsSent(self) -> int:
        return self._snapshot().counters.packets_sent

    def read_PacketsReceived(self) -> int:
        return self._snapshot().counters.packets_received

    def read_Reconnects(self) -> int:
        return self._snapshot().counters.reconnects

    def read_Errors(self) -> int:
        return self._snapshot().errors

    def read_LastError(self) -> str:
        return self._snapshot().last_error

    def read_PendingPackets(self) -> int:
        return self._snapshot().pending

    def read_Trace(self) -> list[str]:
        return self._link.trace_lines() if self._link is not None else []

    def read_Tracing(self) -> bool:
        return self._link.tracing if self._link is not None else False

    def write_Tracing(self, on: bool) -> None:
        with self._driver_errors("write Tracing") as link:
            link.tracing = bool(on)
            self.info_stream(f"Packet tracing {'on' if on else 'off'}")


def _to_bytes(payload: Any) -> bytes:
    return np.asarray(payload, dtype=np.uint8).tobytes()
