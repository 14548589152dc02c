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
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from . import config
from .errors import CommandError, Timeout, emptypacket, error, protocolerror
from .greeting import GREETING_SIZE, parse_greeting
from .messages import Data, Message, RawFrame, Reply, Status
from .reader import UnitReader
from .trace import excerpt
from .transport import (
    INCOMPLETE,
    PEER_CLOSED,
    IdleTask,
    connect,
    recvatleast,
    recvfixed,
    recvinto,
    sendfixed,
    sendnow,
)

__all__ = ["Connection", "Counters", "Progress", "Tracer", "handshake"]

#: Receives every packet: direction (``"<"`` received, ``">"`` sent) and its bytes; a packet over
#: `TRACE_BYTES` as a `ccdpc.trace.Excerpt` of them (its start, and its size).
Tracer = Callable[[str, bytes | bytearray | memoryview], None]
#: Sees a large message arrive: the bytes of its payload received so far, and their total.
Progress = Callable[[int, int], object]

T = TypeVar("T")

_FRAME_REPLY = re.compile(r"FRAME ([0-9]{1,6}) ([0-9]{1,6})")
_BUSY = "connection busy: another call is in progress"
# The status of most replies, from a global: reading an enum member is slow.
_OK = Status.OK
#: Bytes a connection receives at most ahead of need; units up to this size go through them.
_READ_AHEAD = 65536


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
    #: Called while a payload too large for the read-ahead buffer (a frame, over 64 KiB) arrives:
    #: ``progress(received, total)`` in bytes, first with what had arrived before (often 0), then
    #: after each chunk of at most 256 KiB, last with ``received == total``; in the thread that
    #: reads, so it must return at once (a progress bar, a counter). Whatever it raises ends the
    #: receive and closes the connection. None: no calls (anyone may set it, any time).
    progress: Progress | None = None
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
        # Bytes received ahead of the unit that needed them: `_rx[_rx_start:_rx_end]`.
        self._rx = bytearray(_READ_AHEAD)
        self._rx_view = memoryview(self._rx)
        self._rx_start = self._rx_end = 0
        # The buffer `read_frame(into=...)` lends for the frame's payload, until a unit takes it.
        self._into: bytearray | None = None

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
        together with other sources, when `pending` is 0; read and write only through this
        object."""
        sock = self._sock
        return -1 if sock is None else sock.fileno()

    @property
    def pending(self) -> int:
        """Messages received and queued (events that arrived while awaiting a reply, ...), plus
        one if bytes of the next message were read ahead: none of them is in the socket any more,
        so `select` on `fileno` would not see them; `receive` takes them first."""
        return len(self._pending) + (self._rx_end > self._rx_start)

    def command(self, text: str, timeout: float | None = None) -> str:
        """Send a text command and return the text of its reply.

        An error or busy reply raises `CommandError` with the PC's message. Events that arrive
        meanwhile are queued for `receive`.
        """
        limit = self.replytimeout if timeout is None else timeout
        # The lock by hand, not through a context manager: this is the path every command takes.
        lock = self._lock
        if not lock.acquire(False) and not lock.acquire(True, limit if limit > 0.0 else 0.0):
            raise CommandError(_BUSY, busy=True)
        try:
            try:
                payload = text.encode("ascii")
            except UnicodeEncodeError:
                raise ValueError(f"Commands are ASCII text: {text!r}") from None
            return self._command(payload, time.monotonic() + limit).text
        finally:
            lock.release()

    def send(self, payload: bytes | bytearray, timeout: float | None = None) -> int:
        """Send one command message with this payload, in this generation's framing.

        Returns its sequence number (0 in generation 1), which its `Reply` and `Data` will carry.
        `timeout` bounds the wait for the connection's lock (another thread's call).
        """
        limit = self.replytimeout if timeout is None else timeout
        self._acquire(limit)
        try:
            return self._send_guarded(bytes(payload), time.monotonic() + limit)
        finally:
            self._lock.release()

    def receive(self, timeout: float | None = None) -> Message:
        """The next message from the PC: a queued one, else the next from the wire.

        Waits at most `timeout` seconds for its first byte. A timeout before any byte arrived
        raises `timeout` and leaves the connection usable; anything later is returned next time.
        """
        limit = self.replytimeout if timeout is None else timeout
        self._acquire(limit)
        try:
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
        finally:
            self._lock.release()

    def read_frame(
        self, timeout: float | None = None, *, into: bytearray | None = None
    ) -> RawFrame:
        """Send ``READ`` and return the frame: width, height and the pixel bytes (uint16 LE).

        The pixels arrive in a new buffer, or in `into` if it is exactly the frame's size
        (width x height x 2 bytes): a client that streams frames can receive each into a buffer
        it reuses, and save allocating and zeroing one per frame. Whether it was used shows as
        ``frame.pixels is into``; a buffer of another size is left untouched (the frame then gets
        a new one, as without it). A failed read may have written part of a frame into it.
        """
        limit = self.replytimeout if timeout is None else timeout
        self._acquire(limit)
        try:
            deadline = time.monotonic() + limit
            reply = self._command(b"READ", deadline)
            match = _FRAME_REPLY.fullmatch(reply.text)
            if match is None:
                self._drop()
                raise protocolerror(f"READ answered {reply.text!r}, not 'FRAME <width> <height>'")
            width, height = int(match[1]), int(match[2])
            # Lent only now: what came before the reply (another command's data) is not the frame.
            if into is not None and len(into) == width * height * 2:
                self._into = into
            try:
                data = self._await(deadline, lambda m: isinstance(m, Data) and m.seq == reply.seq)
            finally:
                self._into = None
            assert isinstance(data, Data)
            if len(data.payload) != width * height * 2:
                self._drop()
                raise protocolerror(
                    f"Frame of {width}x{height} came with {len(data.payload)} bytes",
                    bytes(data.payload[:80]),
                    width * height * 2,
                )
            return RawFrame(width, height, data.payload)
        finally:
            self._lock.release()

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

    def _between(self) -> float:
        """Seconds each later chunk of a message may take: the packet timeout, read now."""
        return config.packettimeout if self.packettimeout is None else self.packettimeout

    def _acquire(self, limit: float) -> None:
        """Take the lock within `limit` seconds, or raise the busy `CommandError`."""
        if not self._lock.acquire(True, limit if limit > 0.0 else 0.0):
            raise CommandError(_BUSY, busy=True)

    def _command(self, payload: bytes, deadline: float) -> Reply:
        seq = self._send_guarded(payload, deadline)
        read_message = self._read_message
        try:
            while True:
                message = read_message(deadline)
                if isinstance(message, Reply) and (
                    message.seq == seq or self._is_reply_to(message, seq)
                ):
                    break
                self._pending.append(message)  # events (and late replies) wait for `receive`
        except error:
            self._drop()
            raise
        status = message.status
        if status is not _OK:
            raise CommandError(message.text, busy=status is Status.BUSY)
        return message

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
            self._send_failed(exc)
            raise

    def _send_failed(self, exc: error) -> None:
        """Drop the connection after a failed send; a server that refuses us says why, then
        closes (our send may fail before we read it): then raise its words instead of `exc`."""
        words = self._last_words()
        self._drop()
        if words is not None:
            raise error(f"The server closed the connection, saying: {words!r}") from exc

    def _last_words(self) -> str | None:
        """The text of a reply or event already waiting in the socket, if there is one."""
        try:
            message = self._read_message(time.monotonic())
        except error:
            return None
        return None if isinstance(message, Data) else message.text

    def _write(self, packet: bytes | bytearray) -> None:
        """Send one packet."""
        sock = self._sock
        if sock is None:
            raise error(f"Not connected to {self.host}:{self.port}")
        sent = sendnow(sock, packet)
        if sent < len(packet):
            sendfixed(sock, packet, self.packettimeout, sent=sent)
        trace = self.trace
        if trace is not None:
            trace(">", excerpt([packet]))
        counters = self.counters
        counters.packets_sent += 1
        counters.bytes_sent += len(packet)

    def _next_event(self, decoder: UnitReader[T], deadline: float, now: float | None = None) -> T:
        """Feed `decoder` from the socket until it yields: the first unit of a packet must start
        before `deadline`, the units after it within the packet timeout. `now`, if given, is the
        time the caller just read from the clock.

        A small unit is received into the read-ahead buffer together with whatever else is
        already waiting (the payload after a header, the next message): one wait, one system
        call, where receiving unit by unit would take two. A large unit (a frame) is received
        into a buffer of its own, after what was read ahead of it.
        """
        sock = self._sock
        if sock is None:
            raise error(f"Not connected to {self.host}:{self.port}")
        counters = self.counters
        trace = self.trace
        chunks = 0
        if decoder.idle():
            start, end = self._rx_start, self._rx_end
            if start == end:  # the usual wait: for the first byte of a message
                self._rx_start = self._rx_end = 0  # until the receive succeeds
                end, chunks = recvatleast(
                    sock,
                    self._rx_view,
                    decoder.unit_size,
                    deadline - (time.monotonic() if now is None else now),
                    idletask=self.idletask,
                    packettimeout=self.packettimeout,
                )
                start = 0
                self._rx_end = end
            found = decoder.whole(self._rx, start, end)
            if found is not None:  # all of a small message arrived: no units
                event, stop = found
                self._rx_start = stop
                counters.bytes_received += stop - start
                counters.packets_received += 1
                if trace is not None:
                    trace("<", self._rx[start:stop])
                return event
        else:
            waiting = decoder.next_event()
            if waiting is not None:
                return waiting
        units: list[bytearray] | None = None if trace is None else []
        while True:
            size = decoder.unit_size  # all of it: units are only ever taken whole here
            start = self._rx_start
            have = self._rx_end - start
            if have >= size:  # read ahead: no need to wait
                unit = self._rx[start : start + size]
                self._rx_start = start + size
                digest = None
            else:  # a message is under way (its first byte came above, or before)
                unit, digest, chunks = self._receive_unit(decoder, size, self._between(), chunks)
            counters.bytes_received += size
            if units is not None:
                units.append(unit)
            taken = decoder.take(unit, None if digest is None else digest.value)
            if taken is not None:
                counters.packets_received += 1
                if trace is not None and units:
                    trace("<", excerpt(units))
                return taken

    def _receive_unit(
        self, decoder: UnitReader[Any], size: int, wait: float, chunks: int
    ) -> tuple[bytearray, _Digest | None, int]:
        """Receive the `size` bytes of the unit `decoder` needs, after those read ahead of it, in
        a message under way, waiting `wait` seconds for the first chunk; return it, its checksum
        if computed as it landed, and the chunks of the packet so far (`chunks` before it)."""
        sock = self._sock
        assert sock is not None  # checked by the caller, which holds the lock
        rx, start = self._rx, self._rx_start
        have = self._rx_end - start
        digest = lent = None
        before = rx[start : start + have]  # for a failure's `partial`
        try:
            if size <= _READ_AHEAD:
                if start:
                    rx[:have] = before
                self._rx_start = self._rx_end = 0  # until the receive succeeds
                got, taken = recvatleast(
                    sock,
                    self._rx_view[have:],
                    size - have,
                    wait,
                    idletask=self.idletask,
                    packettimeout=self.packettimeout,
                )
                self._rx_end = have + got
                self._rx_start = size
                return rx[:size], None, chunks + taken
            lent = self._into
            if lent is not None and len(lent) == size:
                unit = lent
                self._into = None  # for one unit: a second one must not overwrite the first
            else:
                unit, lent = bytearray(size), None
            view = memoryview(unit)
            # A large payload's checksum runs chunk by chunk as it lands.
            if decoder.checksum is not None:
                digest = _Digest(decoder.checksum)
            if have:
                view[:have] = before
                if digest is not None:
                    digest(view[:have])
            self._rx_start = self._rx_end = 0
            hook = self.progress
            watch: Callable[[memoryview], None] | None = digest
            if hook is not None:
                watch = _Watch(hook, digest, have, size)
                hook(have, size)
            taken = recvinto(
                sock, view[have:], wait, self.idletask, self.packettimeout, progress=watch
            )
            return unit, digest, chunks + taken
        except error as exc:
            if lent is not None:
                self._into = lent  # the unit is lost; its retransmission (gen. 3) may have it
            raise _packet_error(exc, decoder, chunks, before) from exc
        except BaseException:  # the progress hook's: the message is cut, and so the link
            self._drop()
            raise

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        self._rx_start = self._rx_end = 0  # what was read ahead belongs to this socket
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


class _Watch:
    """Reports a large payload's bytes as they land to a `Progress` hook (and feeds its checksum,
    if it has one)."""

    def __init__(self, hook: Progress, digest: _Digest | None, received: int, total: int) -> None:
        self.hook, self.digest, self.received, self.total = hook, digest, received, total

    def __call__(self, chunk: memoryview) -> None:
        digest = self.digest
        if digest is not None:  # `digest(chunk)`, without a call more per chunk
            digest.value = digest.function(chunk, digest.value)
        self.received += len(chunk)
        self.hook(self.received, self.total)


def _packet_error(
    exc: error, decoder: UnitReader[Any], chunks: int, before: bytes | bytearray = b""
) -> error:
    """Restate a failure inside a packet's later unit (its payload) for the packet as a whole;
    `before`: the bytes of the unit that were read ahead."""
    partial = decoder.received() + before + exc.partial
    chunks += exc.chunks
    if isinstance(exc, Timeout):
        message = INCOMPLETE
    elif isinstance(exc, emptypacket):
        message = PEER_CLOSED % (chunks, len(partial))
    else:
        message = str(exc)
    return type(exc)(message, partial, decoder.expected(), chunks)
