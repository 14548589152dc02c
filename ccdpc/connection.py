"""What every connection class shares: the lock, the pending queue, counters, timeouts, tracing.

A generation supplies two things: how a command goes out (`_send_command`) and how the next message
comes in (`_read_message`). Everything a user calls is here, once.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from . import config
from .errors import CommandError, Timeout, emptypacket, error, protocolerror
from .greeting import GREETING_SIZE, parse_greeting
from .messages import Data, Message, RawFrame, Reply, Status
from .reader import UnitReader
from .transport import (
    INCOMPLETE,
    PEER_CLOSED,
    IdleTask,
    connect,
    recvfixed,
    recvinto,
    sendfixed,
)

__all__ = ["Connection", "Counters", "Tracer", "handshake"]

#: Receives every packet: direction (``"<"`` received, ``">"`` sent) and its bytes.
Tracer = Callable[[str, bytes | bytearray | memoryview], None]

T = TypeVar("T")

_FRAME_REPLY = re.compile(r"FRAME ([0-9]{1,6}) ([0-9]{1,6})")


@dataclass
class Counters:
    """Traffic counters of one connection object, across reconnects."""

    bytes_sent: int = 0
    bytes_received: int = 0
    packets_sent: int = 0
    packets_received: int = 0
    reconnects: int = 0


def handshake(
    host: str, port: int, connecttimeout: float, idletask: IdleTask | None = None
) -> tuple[socket.socket, bytes]:
    """Connect and read the greeting; return the socket and the greeting, checked for form."""
    sock = connect(host, port, connecttimeout)
    try:
        greeting = bytes(
            recvfixed(sock, GREETING_SIZE, connecttimeout, idletask, packettimeout=connecttimeout)
        )
        parse_greeting(greeting)
        return sock, greeting
    except BaseException:
        sock.close()
        raise


class Connection:
    """A connection to the control PC; made by the `ccdpc.CCDPC` factory, already talking.

    All public methods are thread-safe: one lock per connection keeps two callers from
    interleaving bytes on the wire. A caller that cannot get the lock within its timeout gets a
    `CommandError` with ``busy=True``.
    """

    protocol_version: ClassVar[int] = 0
    #: Called with every packet while not None (`DebuggingCCDPC` sets it; anyone may, any time).
    trace: Tracer | None = None
    _decoder: UnitReader[Any]

    def __init__(
        self,
        sock: socket.socket,
        host: str,
        port: int,
        version: tuple[int, int],
        *,
        txtout: object = None,
        idletask: IdleTask | None = None,
        max_payload: int | None = None,
        replytimeout: float | None = None,
        connecttimeout: float | None = None,
        packettimeout: float | None = None,
        trace: Tracer | None = None,
    ) -> None:
        if trace is not None:
            self.trace = trace
        self.host = host
        self.port = port
        self.idletask = idletask
        self.txtout = txtout
        self.counters = Counters()
        self.max_payload = min(
            config.maxpacketsize if max_payload is None else max_payload, config.maxpacketsize
        )
        self.replytimeout = config.replytimeout if replytimeout is None else replytimeout
        self.connecttimeout = config.connecttimeout if connecttimeout is None else connecttimeout
        #: Seconds between chunks of one packet; None follows `ccdpc.config.packettimeout`.
        self.packettimeout = packettimeout
        self._sock: socket.socket | None = sock
        self._version = version
        self._lock = threading.Lock()
        self._pending: deque[Message] = deque()

    # -- public API -------------------------------------------------------------------------

    @property
    def server_version(self) -> str:
        """The version the server announced in its greeting, e.g. ``"2.1"``."""
        return f"{self._version[0]}.{self._version[1]}"

    @property
    def connected(self) -> bool:
        """True while the socket is open."""
        return self._sock is not None

    def fileno(self) -> int:
        """The socket's file descriptor (-1 when closed), to wait for input with `select`
        together with other sources; read and write only through this object."""
        sock = self._sock
        return -1 if sock is None else sock.fileno()

    @property
    def pending(self) -> int:
        """Messages received and queued (events that arrived while awaiting a reply, ...)."""
        return len(self._pending)

    def command(self, text: str, timeout: float | None = None) -> str:
        """Send a text command and return the text of its reply.

        An error or busy reply raises `CommandError` with the PC's message. Events that arrive
        meanwhile are queued for `receive`.
        """
        limit = self.replytimeout if timeout is None else timeout
        with self._exclusive(limit):
            return self._command(_ascii(text), time.monotonic() + limit).text

    def send(self, payload: bytes | bytearray, timeout: float | None = None) -> int:
        """Send one command message with this payload, in this generation's framing.

        Returns its sequence number (0 in generation 1), which its `Reply` and `Data` will carry.
        `timeout` bounds the wait for the connection's lock (another thread's call).
        """
        limit = self.replytimeout if timeout is None else timeout
        with self._exclusive(limit):
            return self._send_guarded(bytes(payload), time.monotonic() + limit)

    def receive(self, timeout: float | None = None) -> Message:
        """The next message from the PC: a queued one, else the next from the wire.

        Waits at most `timeout` seconds for its first byte. A timeout before any byte arrived
        raises `timeout` and leaves the connection usable; anything later is returned next time.
        """
        limit = self.replytimeout if timeout is None else timeout
        with self._exclusive(limit):
            if self._pending:
                return self._pending.popleft()
            deadline = time.monotonic() + limit
            self._require_link(deadline)
            try:
                return self._read_message(deadline)
            except Timeout as exc:
                if exc.partial or self._decoder.mid_message:
                    self._drop()
                raise
            except error:
                self._drop()
                raise

    def read_frame(self, timeout: float | None = None) -> RawFrame:
        """Send ``READ`` and return the frame: width, height and the pixel bytes (uint16 LE)."""
        limit = self.replytimeout if timeout is None else timeout
        with self._exclusive(limit):
            deadline = time.monotonic() + limit
            reply = self._command(b"READ", deadline)
            match = _FRAME_REPLY.fullmatch(reply.text)
            if match is None:
                self._drop()
                raise protocolerror(f"READ answered {reply.text!r}, not 'FRAME <width> <height>'")
            width, height = int(match[1]), int(match[2])
            data = self._await(deadline, lambda m: isinstance(m, Data) and m.seq == reply.seq)
            assert isinstance(data, Data)
            if len(data.payload) != width * height * 2:
                self._drop()
                raise protocolerror(
                    f"Frame of {width}x{height} came with {len(data.payload)} bytes",
                    bytes(data.payload[:80]),
                    width * height * 2,
                )
            return RawFrame(width, height, data.payload)

    def close(self, timeout: float | None = None) -> None:
        """Close the connection. Safe from any thread, and more than once.

        `timeout` bounds how long a generation 3 connection waits for the server to confirm the
        end of the session (default: the packet timeout; 0: do not wait).
        """
        self._drop()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "closed"
        return f"<{type(self).__name__} {self.host}:{self.port} v{self.server_version} {state}>"

    # -- what a generation provides ------------------------------------------------------------

    def _send_command(self, payload: bytes) -> int:
        """Put one command on the wire; return its sequence number (0 where there is none)."""
        raise NotImplementedError

    def _read_message(self, deadline: float) -> Message:
        """The next message from the wire; its first byte must come before `deadline`."""
        raise NotImplementedError

    def _is_reply_to(self, reply: Reply, seq: int) -> bool:
        """Whether `reply` answers command `seq`; raises `protocolerror` for a stray reply."""
        return True

    def _require_link(self, deadline: float) -> None:
        if self._sock is None:
            raise error(f"Not connected to {self.host}:{self.port}")

    # -- shared machinery --------------------------------------------------------------------

    @contextmanager
    def _exclusive(self, limit: float) -> Iterator[None]:
        if not self._lock.acquire(timeout=max(limit, 0.0)):
            raise CommandError("connection busy: another call is in progress", busy=True)
        try:
            yield
        finally:
            self._lock.release()

    def _command(self, payload: bytes, deadline: float) -> Reply:
        seq = self._send_guarded(payload, deadline)
        try:
            reply = self._await(
                deadline, lambda m: isinstance(m, Reply) and self._is_reply_to(m, seq)
            )
        except error:
            self._drop()
            raise
        assert isinstance(reply, Reply)
        if reply.status is not Status.OK:
            raise CommandError(reply.text, busy=reply.status is Status.BUSY)
        return reply

    def _await(self, deadline: float, wanted: Callable[[Message], bool]) -> Message:
        """Read until a wanted message; queue the others (events) for `receive`."""
        try:
            while True:
                message = self._read_message(deadline)
                if wanted(message):
                    return message
                self._pending.append(message)
        except error:
            self._drop()
            raise

    def _send_guarded(self, payload: bytes, deadline: float) -> int:
        self._require_link(deadline)
        try:
            return self._send_command(payload)
        except error as exc:
            # A server that refuses us says why, then closes: our send may fail before we read it.
            words = self._last_words()
            self._drop()
            if words is not None:
                raise error(f"The server closed the connection, saying: {words!r}") from exc
            raise

    def _last_words(self) -> str | None:
        """The text of a reply or event already waiting in the socket, if there is one."""
        try:
            message = self._read_message(time.monotonic())
        except error:
            return None
        return None if isinstance(message, Data) else message.text

    def _write(self, *parts: bytes | bytearray | memoryview) -> None:
        """Send one packet (given in parts, so a large payload is not copied into the header)."""
        sock = self._sock
        if sock is None:
            raise error(f"Not connected to {self.host}:{self.port}")
        for part in parts:
            sendfixed(sock, part, self.packettimeout)
        trace = self.trace
        if trace is not None:
            trace(">", b"".join(parts) if len(parts) > 1 else parts[0])
        self.counters.packets_sent += 1
        self.counters.bytes_sent += sum(len(part) for part in parts)

    def _next_event(self, decoder: UnitReader[T], deadline: float) -> T:
        """Feed `decoder` from the socket until it yields: the first unit of a packet must start
        before `deadline`, the units after it within the packet timeout."""
        sock = self._sock
        if sock is None:
            raise error(f"Not connected to {self.host}:{self.port}")
        chunks = 0
        units: list[bytearray] = []
        while (event := decoder.next_event()) is None:
            if decoder.mid_message:
                wait = config.packettimeout if self.packettimeout is None else self.packettimeout
            else:
                wait = deadline - time.monotonic()
            unit = bytearray(decoder.needed())
            # A payload's checksum runs chunk by chunk while the rest is still arriving.
            digest = _Digest(decoder.checksum) if decoder.mid_message and decoder.checksum else None
            try:
                chunks += recvinto(
                    sock, memoryview(unit), wait, self.idletask, self.packettimeout, progress=digest
                )
            except error as exc:
                if decoder.mid_message:
                    raise _packet_error(exc, decoder, chunks) from exc
                raise
            self.counters.bytes_received += len(unit)
            if self.trace is not None:
                units.append(unit)
            decoder.feed(unit, None if digest is None else digest.value)
        self.counters.packets_received += 1
        trace = self.trace
        if trace is not None and units:
            trace("<", units[0] if len(units) == 1 else b"".join(units))
        return event

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class _Digest:
    """A checksum computed as the chunks of a payload land."""

    def __init__(self, function: Callable[[bytes | bytearray | memoryview, int], int]) -> None:
        self.function = function
        self.value = 0

    def __call__(self, chunk: memoryview) -> None:
        self.value = self.function(chunk, self.value)


def _packet_error(exc: error, decoder: UnitReader[Any], chunks: int) -> error:
    """Restate a failure inside a packet's later unit (its payload) for the packet as a whole."""
    partial = decoder.received() + exc.partial
    chunks += exc.chunks
    if isinstance(exc, Timeout):
        message = INCOMPLETE
    elif isinstance(exc, emptypacket):
        message = PEER_CLOSED % (chunks, len(partial))
    else:
        message = str(exc)
    return type(exc)(message, partial, decoder.expected(), chunks)


def _ascii(text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"Commands are ASCII text: {text!r}") from None
