"""The thin socket layer: exact receives, complete sends, connecting. Nothing here knows framing.

One deadline per unit, two levels (like pyserial): the first byte may take `timeouttime`, each later
chunk must come within `config.packettimeout` of the one before. No call blocks without a timeout,
and no signal is needed; `timeouthandler` exists for callers that still use SIGALRM.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from types import FrameType

from . import config
from .errors import emptypacket, error, timeout

__all__ = ["connect", "recvfixed", "recvinto", "sendfixed", "timeouthandler"]

IdleTask = Callable[[], object]

NOTHING_ARRIVED = "select interrupted by timeout"
INCOMPLETE = "Incomplete packet received"
PEER_CLOSED = "Invalid packet received after %d other packets, %d bytes"
SOCKET_DIED = "Socket died on us."


def recvinto(
    sock: socket.socket,
    view: memoryview,
    timeouttime: float = 30000,
    idletask: IdleTask | None = None,
    packettimeout: float | None = None,
    *,
    progress: Callable[[memoryview], object] | None = None,
) -> int:
    """Fill `view` completely from `sock`, or raise; never returns a short read.

    `timeouttime` is the time, in seconds, allowed for the first chunk; each later chunk must come
    within `packettimeout` (default `config.packettimeout`, read now). `idletask()` is called at
    least every `config.idleinterval` seconds while waiting; whatever it raises propagates. Bytes
    already waiting in the socket are taken even when the deadline has passed. `progress`, if
    given, sees each chunk as it lands (a checksum can run while the rest is on its way). Returns
    the number of chunks it took.
    """
    between = config.packettimeout if packettimeout is None else packettimeout
    length = len(view)
    got = chunks = 0
    # The socket's own timeout does the per-chunk deadline: after the first chunk it is set once
    # to `between`, so the hot loop is one recv_into per chunk. Only an idletask needs shorter
    # slices, and then the time of the last chunk is kept to know when a deadline has passed.
    slice_ = config.idleinterval if idletask is not None else float("inf")
    deadline = time.monotonic() + timeouttime
    sock.settimeout(max(min(timeouttime, slice_), 1e-6))
    while got < length:
        try:
            n = sock.recv_into(view[got:])
        except timeout:
            raise  # from `timeouthandler` or an idletask: the caller's deadline, not a slice's end
        except TimeoutError:
            now = time.monotonic()
            if now >= deadline:
                message = INCOMPLETE if got else NOTHING_ARRIVED
                raise timeout(message, bytes(view[:got]), length, chunks) from None
            if idletask is not None:
                idletask()
            sock.settimeout(max(min(deadline - time.monotonic(), slice_), 1e-6))
            continue
        except OSError as exc:
            raise error(SOCKET_DIED, bytes(view[:got]), length, chunks) from exc
        if n == 0:
            raise emptypacket(PEER_CLOSED % (chunks, got), bytes(view[:got]), length, chunks)
        if progress is not None:
            progress(view[got : got + n])
        got += n
        chunks += 1
        if idletask is not None:
            deadline = time.monotonic() + between
        elif chunks == 1:
            sock.settimeout(max(between, 1e-6))
            deadline = float("-inf")  # the socket's timeout now is the deadline
    return chunks


def recvfixed(
    sock: socket.socket,
    length: int,
    timeouttime: float = 30000,
    idletask: IdleTask | None = None,
    packettimeout: float | None = None,
) -> bytearray:
    """Receive exactly `length` bytes from `sock` (see `recvinto` for the deadlines).

    The bytes land in one preallocated buffer, which is returned as is: a `bytearray` is a
    bytes-like object that numpy and `memoryview` can wrap without copying a 2.86 MB frame.
    """
    if length < 0:
        raise ValueError(f"length must be >= 0, not {length}")
    buffer = bytearray(length)
    recvinto(sock, memoryview(buffer), timeouttime, idletask, packettimeout)
    return buffer


def sendfixed(
    sock: socket.socket,
    data: bytes | bytearray | memoryview,
    packettimeout: float | None = None,
) -> None:
    """Send all of `data`, or raise `timeout` (no progress for `packettimeout`) or `error`."""
    view = memoryview(data).cast("B")
    sent = 0
    while sent < len(view):
        sock.settimeout(config.packettimeout if packettimeout is None else packettimeout)
        try:
            sent += sock.send(view[sent:])
        except TimeoutError as exc:
            raise timeout(f"Send stalled after {sent} of {len(view)} bytes", b"", 0) from exc
        except OSError as exc:
            raise error(SOCKET_DIED) from exc


def timeouthandler(sig: int, frame: FrameType | None) -> None:
    """A signal handler (for `signal.signal(signal.SIGALRM, timeouthandler)`) raising `timeout`."""
    raise timeout(NOTHING_ARRIVED)


def connect(host: str, port: int, connecttimeout: float | None = None) -> socket.socket:
    """Open a TCP connection, Nagle off; failures become `timeout` or `error` naming the peer."""
    limit = config.connecttimeout if connecttimeout is None else connecttimeout
    try:
        sock = socket.create_connection((host, port), timeout=limit)
    except TimeoutError as exc:
        raise timeout(f"Cannot connect to {host}:{port}: no answer within {limit:g} s") from exc
    except socket.gaierror as exc:
        raise error(f"Cannot resolve host {host!r}: {exc.strerror}") from exc
    except OSError as exc:
        raise error(f"Cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
