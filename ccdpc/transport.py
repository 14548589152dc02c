"""The thin socket layer: exact receives, complete sends, connecting. Nothing here knows framing.

One deadline per unit, two levels (like pyserial): the first byte may take `timeouttime`, each later
chunk must come within `config.packettimeout` of the one before. No call blocks without a timeout,
and no signal is needed; `timeouthandler` exists for callers that still use SIGALRM.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from types import FrameType

from . import config
from .errors import emptypacket, error, timeout

__all__ = [
    "connect",
    "recvatleast",
    "recvfixed",
    "recvinto",
    "sendfixed",
    "sendnow",
    "timeouthandler",
]

IdleTask = Callable[[], object]

NOTHING_ARRIVED = "select interrupted by timeout"
INCOMPLETE = "Incomplete packet received"
PEER_CLOSED = "Invalid packet received after %d other packets, %d bytes"
SOCKET_DIED = "Socket died on us."

#: `recvfixed` waits for the first byte of a buffer this big before it allocates it.
_LARGE = 1 << 20
# The least timeout a socket is given: 0 would make it non-blocking.
_LEAST = 1e-6
# Bytes received at most at a time when each chunk is seen as it lands (a checksum): the chunk is
# then still in the CPU's cache when the CRC-32 reads it. On loopback, a 2.86 MB frame came some
# 4 % faster in 256 KiB chunks than in whatever the socket had (about 200 KiB on average, but
# up to megabytes); 64 KiB chunks were slower, one poll each.
_PROGRESS_CHUNK = 262144
# Writes to a socket's descriptor; Windows has no such thing.
_write = os.write if os.name == "posix" else None


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
    _, chunks = recvatleast(
        sock,
        view,
        len(view),
        timeouttime,
        idletask=idletask,
        packettimeout=packettimeout,
        progress=progress,
    )
    return chunks


def recvatleast(
    sock: socket.socket,
    view: memoryview,
    least: int,
    timeouttime: float = 30000,
    *,
    idletask: IdleTask | None = None,
    packettimeout: float | None = None,
    progress: Callable[[memoryview], object] | None = None,
) -> tuple[int, int]:
    """Receive at least `least` bytes into `view`, and as many more as are already there, up to
    its size (a reader that reads ahead saves a wait); deadlines and failures as in `recvinto`,
    whose `expected` is `least`. Returns the number of bytes and of chunks."""
    between = config.packettimeout if packettimeout is None else packettimeout
    if idletask is not None:
        return _fill(sock, view, least, timeouttime, idletask, between=between, progress=progress)
    # The hot loop. The socket's own timeout is the deadline: a socket timeout ends no earlier
    # than the time it was given, so no clock is read while chunks arrive. Setting it is a system
    # call, so a timeout already set is kept when it is no longer than the first chunk's: then it
    # is a slice, and only when a slice ends empty is the clock read and the rest of the wait set.
    current = sock.gettimeout() if isinstance(sock, socket.socket) else None  # or a stand-in
    if current is not None and _LEAST <= current <= timeouttime:
        deadline = time.monotonic() + timeouttime
    else:
        deadline = None
        current = timeouttime if timeouttime > _LEAST else _LEAST
        sock.settimeout(current)
    got = chunks = 0
    while got < least:
        try:
            if progress is None:
                n = sock.recv_into(view[got:] if got else view)
            else:
                n = sock.recv_into(view[got : got + _PROGRESS_CHUNK])
        except timeout:
            raise  # from `timeouthandler`: the caller's deadline
        except TimeoutError:
            if not got and deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    current = remaining if remaining > _LEAST else _LEAST
                    sock.settimeout(current)
                    continue
            message = INCOMPLETE if got else NOTHING_ARRIVED
            raise timeout(message, bytes(view[:got]), least, chunks) from None
        except OSError as exc:
            raise error(SOCKET_DIED, bytes(view[:got]), least, chunks) from exc
        if n == 0:
            raise emptypacket(PEER_CLOSED % (chunks, got), bytes(view[:got]), least, chunks)
        if progress is not None:
            progress(view[got : got + n])
        got += n
        chunks += 1
        if chunks == 1 and got < least and current != between:
            sock.settimeout(between if between > _LEAST else _LEAST)
    return got, chunks


def _fill(
    sock: socket.socket,
    view: memoryview,
    least: int,
    timeouttime: float,
    idletask: IdleTask | None,
    *,
    between: float,
    progress: Callable[[memoryview], object] | None = None,
    flags: int = 0,
    size: int | None = None,
) -> tuple[int, int]:
    """`recvatleast` that waits in slices of `config.idleinterval` when there is an idletask, so
    it keeps the deadline of the next chunk itself, from the time of the last one. `flags` go to
    ``recv_into``; errors report `size` as the size expected (default: `least`)."""
    expected = least if size is None else size
    got = chunks = 0
    slice_ = config.idleinterval if idletask is not None else float("inf")
    deadline = time.monotonic() + timeouttime
    sock.settimeout(max(min(timeouttime, slice_), _LEAST))
    limit = len(view) if progress is None else _PROGRESS_CHUNK
    while got < least:
        try:
            n = sock.recv_into(view[got : got + limit], 0, flags)
        except timeout:
            raise  # from `timeouthandler` or an idletask: the caller's deadline, not a slice's end
        except TimeoutError:
            if time.monotonic() >= deadline:
                message = INCOMPLETE if got else NOTHING_ARRIVED
                raise timeout(message, bytes(view[:got]), expected, chunks) from None
            if idletask is not None:
                idletask()
            sock.settimeout(max(min(deadline - time.monotonic(), slice_), _LEAST))
            continue
        except OSError as exc:
            raise error(SOCKET_DIED, bytes(view[:got]), expected, chunks) from exc
        if n == 0:
            raise emptypacket(PEER_CLOSED % (chunks, got), bytes(view[:got]), expected, chunks)
        if progress is not None:
            progress(view[got : got + n])
        got += n
        chunks += 1
        deadline = time.monotonic() + between
        if idletask is None and chunks == 1 and got < least:
            sock.settimeout(max(between, _LEAST))
    return got, chunks


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
    if length >= _LARGE and isinstance(sock, socket.socket):
        # A large buffer is zeroed as it is made, which takes a while: first wait for a byte
        # (peeking, so it stays in the socket), and the zeroing overlaps with the rest arriving
        # instead of delaying the moment we start to wait.
        between = config.packettimeout if packettimeout is None else packettimeout
        peek = memoryview(bytearray(1))
        _fill(
            sock,
            peek,
            1,
            timeouttime,
            idletask,
            between=between,
            flags=socket.MSG_PEEK,
            size=length,
        )
        timeouttime = between  # the first chunk is waiting
    buffer = bytearray(length)
    recvinto(sock, memoryview(buffer), timeouttime, idletask, packettimeout)
    return buffer


def sendfixed(
    sock: socket.socket,
    data: bytes | bytearray | memoryview,
    packettimeout: float | None = None,
    *,
    sent: int = 0,
) -> None:
    """Send all of `data`, or raise `timeout` (no progress for `packettimeout`) or `error`.

    `sent`: how many bytes of `data` the caller has sent already (with `sendnow`).
    """
    size = data.nbytes if isinstance(data, memoryview) else len(data)
    if not sent and isinstance(sock, socket.socket):
        sent = sendnow(sock, data)
        if sent == size:
            return
    wait = config.packettimeout if packettimeout is None else packettimeout
    if sock.gettimeout() != wait:
        sock.settimeout(wait)
    view = memoryview(data).cast("B")[sent:] if sent else data
    while sent < size:
        try:
            sent += sock.send(view)
        except TimeoutError as exc:
            raise timeout(f"Send stalled after {sent} of {size} bytes", b"", 0) from exc
        except OSError as exc:
            raise error(SOCKET_DIED) from exc
        if sent < size:  # a partial send: the rest from where it stopped
            view = memoryview(data).cast("B")[sent:]


def sendnow(sock: socket.socket, data: bytes | bytearray | memoryview) -> int:
    """Send what of `data` the socket takes at once; return how many bytes that was (`error` if
    the socket failed). Then `sendfixed` sends the rest, if any, waiting as it must.

    A socket with a timeout has a non-blocking descriptor: a plain write on it returns at once,
    and saves the poll that ``send`` makes first, a system call per command.
    """
    if _write is None or not sock.gettimeout():
        return 0
    try:
        return _write(sock.fileno(), data)
    except BlockingIOError:
        return 0
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
