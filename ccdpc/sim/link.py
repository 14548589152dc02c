"""One client connection of the simulator: a reader thread, a writer thread, and the faults.

The reader decodes (through the generation's handler) and executes commands; the writer is the
only thread that sends, one queued `Outgoing` at a time, so the bytes of two messages never
interleave. Faults act where the bytes meet the socket; see `ccdpc.sim.faults` for the list.

A close the server decides on is a FIN (``shutdown(SHUT_WR)``) followed by a short drain of what
the client still sends, so the kernel does not turn it into an RST that would destroy the last
reply before the client reads it. The `half-close` fault drains without end: until the client
closes (or the server stops).
"""

from __future__ import annotations

import contextlib
import queue
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable

from ..greeting import encode_greeting
from .detector import Result
from .faults import REPLY_FAULTS, garbage
from .gen1_handler import Gen1Handler
from .gen2_handler import Gen2Handler
from .gen3_handler import Gen3Handler
from .handler import Handler, Outgoing
from .hub import Hub
from .sessions import SessionTable

__all__ = ["GRACE", "HANDLERS", "LINGER", "Link"]

#: The server side of each major protocol version.
HANDLERS: dict[int, type[Handler]] = {1: Gen1Handler, 2: Gen2Handler, 3: Gen3Handler}

#: Seconds a new connection waits for the controlling one to end before it is refused.
GRACE = 0.25
#: Seconds a connection the server closed keeps reading, so the client gets a FIN, not an RST.
LINGER = 1.0
#: The major version the `wrong-version` fault announces.
WRONG_MAJOR = 9
_DROP_AFTER = 1000
_CHUNK = 65536
_POLL = 0.5


class _Closed(Exception):
    """The writer closed the connection on purpose (a fault); it sends nothing more."""


class Link:
    """Serves one accepted socket until the client leaves, a fault ends it, or the server stops."""

    def __init__(self, hub: Hub, sock: socket.socket, number: int) -> None:
        self.number = number
        self._hub = hub
        self._sock = sock
        self._queue: queue.SimpleQueue[Outgoing | None] = queue.SimpleQueue()
        self._handler: Handler | None = None
        self._rng = random.Random(hub.settings.seed * 1_000_003 + number)
        self._wakeup = threading.Event()
        self._sent = 0
        self._drop_point: int | None = None
        self._silent = False
        self._stalled = False
        self._closing = False
        self._reset = False
        self._half_closed = False
        # `slow`: bytes the current chunk may still take, and when the next chunk may start.
        self._slow_room = 0
        self._slow_next = 0.0
        self._reader = threading.Thread(
            target=self._read_loop, name=f"ccdpc-sim-read-{number}", daemon=True
        )
        self._writer = threading.Thread(
            target=self._write_loop, name=f"ccdpc-sim-write-{number}", daemon=True
        )

    def start(self) -> None:
        self._writer.start()
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._reader.is_alive() or self._writer.is_alive()

    def disconnect(self) -> None:
        """Close from outside (server stopping, a test cutting the link): FIN both ways now."""
        self._release()
        self._wakeup.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in (self._reader, self._writer):
            thread.join(max(deadline - time.monotonic(), 0.0))

    # -- what handlers call (`LinkContext`) --------------------------------------------------------

    @property
    def sessions(self) -> SessionTable:
        return self._hub.sessions

    def send(self, out: Outgoing) -> None:
        if not self._closing:
            self._queue.put(out)

    def command(self, payload: bytes, answer: Callable[[Result], None]) -> bool:
        faults = self._hub.faults
        if self._stalled or self._reset or self._closing:
            return False
        if "reset" in faults:
            self._hub.spent("reset")
            self._reset = True
            return False
        if "half-close" in faults:
            self._hub.spent("half-close")
            self._half_closed = self._stalled = True
            self._close_output()
            return False
        if "stall-first" in faults:
            self._hub.spent("stall-first")
            self._stalled = True
            return False
        self._hub.execute(payload, answer)
        return True

    def set_event_sink(self, sink: Callable[[str], None]) -> None:
        self._hub.set_event_sink(sink)

    def clear_event_sink(self, sink: Callable[[str], None]) -> None:
        self._hub.clear_event_sink(sink)

    # -- the reader -------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            self._greet()
            self._receive()
        except OSError:
            pass
        finally:
            self._finish()

    def _greet(self) -> None:
        settings = self._hub.settings
        if "silent" in self._hub.faults:
            self._hub.spent("silent")
            self._silent = True
            return
        major = settings.protocol
        if "wrong-version" in self._hub.faults:
            self._hub.spent("wrong-version")
            major = WRONG_MAJOR
        self._queue.put(Outgoing([(encode_greeting(major, settings.minor),)], greeting=True))
        handler_class = HANDLERS[settings.protocol]
        if not self._hub.claim(self, GRACE):
            self._queue.put(Outgoing([(handler_class.refusal(),)], close_after=True))
            return
        with self._hub.lock:
            if self._closing:  # disconnected while waiting for the slot
                self._hub.release(self)
                return
            self._handler = handler_class(self)
            self._handler.start()

    def _receive(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            last = time.monotonic()
            linger_until: float | None = None
            while not self._hub.stopping:
                now = time.monotonic()
                wait = _POLL
                if self._closing and not self._half_closed:
                    linger_until = linger_until or now + LINGER
                    wait = linger_until - now
                    if wait <= 0:
                        return
                elif self._handler is not None and self._handler.idle_close:
                    wait = last + self._hub.settings.idle_timeout - now
                    if wait <= 0:
                        self._close_output()
                        continue
                if not selector.select(min(wait, _POLL)):
                    continue
                data = self._sock.recv(_CHUNK)
                if not data:
                    return
                last = time.monotonic()
                self._take(data)
                if self._reset:
                    return

    def _take(self, data: bytes) -> None:
        with self._hub.lock:
            if self._handler is not None and not self._closing:
                self._handler.feed(data)

    def _finish(self) -> None:
        self._release()
        self._queue.put(None)
        self._wakeup.set()
        if self._reset:
            # The writer is idle (it had nothing to answer); the RST must not be preceded by a FIN.
            self._writer.join(0.2)
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._writer.join(1.0)
        self._sock.close()

    def _release(self) -> None:
        """Stop being the controlling connection (before the client can see the close)."""
        with self._hub.lock:
            if self._closing:
                return
            self._closing = True
            self._hub.release(self)
            if self._handler is not None:
                self._handler.lost()

    # -- the writer -------------------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                try:
                    out = self._queue.get(timeout=_POLL)
                except queue.Empty:
                    if self._hub.stopping:
                        return
                    continue
                if out is None:
                    return
                if self._stalled or self._closing:
                    continue
                self._transmit(out)
                if out.close_after:
                    self._close_output()
                    return
        except _Closed:
            pass
        except OSError:
            self._close_output()

    def _transmit(self, out: Outgoing) -> None:
        faults = self._hub.faults
        messages = list(out.messages)
        if out.reply and messages and self._handler is not None:
            first = b"".join(messages[0])
            for name in sorted(faults & REPLY_FAULTS):
                self._hub.spent(name)  # the one in force acts now (with `once`: all of them go)
            if "huge-length" in faults:
                self._write(self._handler.huge_header(first))
                self._stalled = True
                return
            if "header-only" in faults:
                self._write(first[: self._handler.header_size])
                self._stalled = True
                return
            if "stall-mid" in faults or "close-mid" in faults:
                self._write(first[: len(first) // 2])
                self._stalled = True
                if "close-mid" in faults:
                    self._close_output()
                    raise _Closed
                return
            if "garbage" in faults:
                self._write(garbage(out.size, self._rng))
                return
            if "bad-crc" in faults:
                messages[0] = (self._handler.bad_crc(first),)
        for message in messages:
            for part in message:
                self._write(part, counted=not out.greeting)

    def _write(self, data: bytes | bytearray | memoryview, counted: bool = True) -> None:
        view = memoryview(data).cast("B")
        faults = self._hub.faults
        if counted and "drop-session" in faults:
            budget = self._drop_after() - self._sent
            if len(view) >= budget:
                self._hub.spent("drop-session")
                self._send(view[: max(budget, 0)])
                self._close_output()
                raise _Closed
        self._send(view)
        if counted:
            self._sent += len(view)

    def _drop_after(self) -> int:
        if self._drop_point is None:
            settings = self._hub.settings
            most = _DROP_AFTER if settings.drop_after is None else settings.drop_after
            self._drop_point = self._rng.randint(1, max(most, 1)) if settings.drop_random else most
        return self._drop_point

    def _send(self, view: memoryview) -> None:
        faults = self._hub.faults
        if "trickle" in faults:
            self._hub.spent("trickle")
            self._trickle(view)
        elif "slow" in faults:
            self._send_slowly(view)
        else:
            self._sock.sendall(view)

    def _trickle(self, view: memoryview) -> None:
        delay = self._hub.settings.trickle_delay
        for index in range(len(view)):
            if index and self._wakeup.wait(delay):
                raise _Closed
            self._sock.sendall(view[index : index + 1])

    def _send_slowly(self, view: memoryview) -> None:
        """`slow`: a chunk of at most `slow_chunk` bytes per `slow_delay`, across messages (the
        header and payload of one message, or two messages back to back, share the pace)."""
        chunk, delay = self._hub.settings.slow_chunk, self._hub.settings.slow_delay
        start = 0
        while start < len(view):
            now = time.monotonic()
            if now >= self._slow_next:
                self._slow_room, self._slow_next = chunk, now + delay
            elif not self._slow_room:
                self._hub.spent("slow")  # a chunk comes late: that is the fault acting
                if self._wakeup.wait(self._slow_next - now):
                    raise _Closed
                continue
            end = start + min(self._slow_room, len(view) - start)
            self._sock.sendall(view[start:end])
            self._slow_room -= end - start
            start = end

    def _close_output(self) -> None:
        """The server closes: release the slot first, then FIN; the reader drains and ends."""
        self._release()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
