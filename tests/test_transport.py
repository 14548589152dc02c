"""recvfixed / sendfixed / timeouthandler against real TCP peers on loopback."""

from __future__ import annotations

import itertools
import select
import signal
import socket
import struct
import threading
import time

import pytest

import ccdpc
from ccdpc import config, emptypacket, error, recvfixed, sendfixed, timeout, timeouthandler

Pair = tuple[socket.socket, socket.socket]


def feeder(server: socket.socket, pieces: list[bytes], then: str = "stay") -> object:
    """An idletask that sends the next piece each time the reader waits: one chunk per recv,
    so chunk counts are deterministic. `then` is what happens when the pieces run out."""
    queue = list(pieces)

    def idletask() -> None:
        if queue:
            server.sendall(queue.pop(0))
        elif then == "close":
            server.shutdown(socket.SHUT_WR)
        elif then == "reset":
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            server.close()

    return idletask


@pytest.fixture(autouse=True)
def fast_idle() -> None:
    config.idleinterval = 0.01


def test_exact_length_in_several_chunks(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    data = recvfixed(client, 9, 5, feeder(server, [b"abc", b"def", b"ghi"]))
    assert data == b"abcdefghi"
    assert isinstance(data, bytearray)


def test_zero_length_reads_nothing(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    server.sendall(b"x")
    assert recvfixed(client, 0, 0.1) == b""
    assert recvfixed(client, 1, 1) == b"x"


def test_negative_length_is_refused(tcp_pair: Pair) -> None:
    with pytest.raises(ValueError):
        recvfixed(tcp_pair[0], -1)


def test_peer_closed_midway_counts_packets_and_bytes(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    with pytest.raises(emptypacket) as info:
        recvfixed(client, 10, 5, feeder(server, [b"ab", b"cde"], then="close"))
    assert str(info.value) == "Invalid packet received after 2 other packets, 5 bytes"
    assert info.value.partial == b"abcde"
    assert info.value.expected == 10


def test_peer_closed_before_anything(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(emptypacket) as info:
        recvfixed(client, 4, 5)
    assert str(info.value) == "Invalid packet received after 0 other packets, 0 bytes"
    assert info.value.partial == b""


def test_reset_is_socket_died(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    with pytest.raises(error) as info:
        recvfixed(client, 10, 5, feeder(server, [b"abc"], then="reset"))
    assert type(info.value) is error
    assert str(info.value) == "Socket died on us."
    assert info.value.partial == b"abc"
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_stall_after_some_bytes_is_incomplete_packet(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    server.sendall(b"abc")
    config.packettimeout = 0.2
    start = time.monotonic()
    with pytest.raises(timeout) as info:
        recvfixed(client, 10, 5)
    elapsed = time.monotonic() - start
    assert str(info.value) == "Incomplete packet received"
    assert info.value.partial == b"abc"
    assert info.value.expected == 10
    assert 0.2 <= elapsed < 2


def test_packettimeout_argument_overrides_config(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    server.sendall(b"a")
    config.packettimeout = 60
    start = time.monotonic()
    with pytest.raises(timeout, match="Incomplete packet received"):
        recvfixed(client, 2, 5, packettimeout=0.1)
    assert time.monotonic() - start < 2


def test_nothing_arrives_is_select_interrupted(tcp_pair: Pair) -> None:
    client, _ = tcp_pair
    start = time.monotonic()
    with pytest.raises(timeout) as info:
        recvfixed(client, 10, 0.2)
    elapsed = time.monotonic() - start
    assert str(info.value) == "select interrupted by timeout"
    assert info.value.partial == b""
    assert 0.2 <= elapsed < 2


def test_first_chunk_may_take_timeouttime_not_packettimeout(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    config.packettimeout = 0.05
    threading.Timer(0.3, server.sendall, (b"late",)).start()
    assert recvfixed(client, 4, 5) == b"late"


def test_bytes_already_waiting_are_taken_after_the_deadline(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    server.sendall(b"ready")
    time_passed = 0.0
    assert recvfixed(client, 5, time_passed) == b"ready"


def test_idletask_runs_while_waiting(tcp_pair: Pair) -> None:
    client, _ = tcp_pair
    config.idleinterval = 0.1
    calls: list[float] = []
    with pytest.raises(timeout):
        recvfixed(client, 1, 0.55, lambda: calls.append(time.monotonic()))
    assert len(calls) >= 4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert max(gaps) < 0.1 + 0.1  # one interval plus scheduling slack


def test_idletask_exception_propagates(tcp_pair: Pair) -> None:
    client, _ = tcp_pair

    def abort() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        recvfixed(client, 1, 5, abort)


class RecvIntoOnly:
    """A socket stand-in that only offers recv_into: recvfixed must fill one buffer in place."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data, self.chunk, self.calls = data, chunk, 0

    def settimeout(self, value: float) -> None:
        assert value > 0

    def recv_into(self, view: memoryview) -> int:
        self.calls += 1
        n = min(self.chunk, len(view), len(self.data))
        view[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


def test_large_reads_fill_one_preallocated_buffer() -> None:
    payload = bytes(range(256)) * 11_172  # 2.86 MB
    fake = RecvIntoOnly(payload, 65536)
    data = recvfixed(fake, len(payload), 1)  # type: ignore[arg-type]
    assert data == payload
    assert fake.calls == -(-len(payload) // 65536)


def test_sendfixed_sends_everything(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    payload = bytes(range(256)) * 40_000  # 10 MB, far more than a socket buffer
    received = bytearray()

    def drain() -> None:
        while len(received) < len(payload):
            received.extend(server.recv(1 << 20))

    reader = threading.Thread(target=drain)
    reader.start()
    sendfixed(client, payload)
    reader.join(10)
    assert received == payload


def test_sendfixed_times_out_when_peer_reads_nothing(tcp_pair: Pair) -> None:
    client, _ = tcp_pair
    config.packettimeout = 0.2
    start = time.monotonic()
    with pytest.raises(timeout, match="Send stalled after"):
        sendfixed(client, b"x" * (64 << 20))
    assert time.monotonic() - start < 5


def test_sendfixed_to_a_reset_peer_is_socket_died(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    server.close()
    with pytest.raises(error, match=r"Socket died on us\."):
        for _ in range(100):  # the first send may still succeed before the RST is seen
            sendfixed(client, b"x" * 65536)


def test_timeouthandler_turns_sigalrm_into_timeout(tcp_pair: Pair) -> None:
    client, _ = tcp_pair
    previous = signal.signal(signal.SIGALRM, timeouthandler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        start = time.monotonic()
        with pytest.raises(timeout, match="select interrupted by timeout"):
            recvfixed(client, 1, 5)
        assert time.monotonic() - start < 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_exception_family() -> None:
    assert issubclass(ccdpc.error, ConnectionError)
    assert issubclass(ccdpc.timeout, ccdpc.error) and issubclass(ccdpc.timeout, TimeoutError)
    assert issubclass(ccdpc.emptypacket, ccdpc.error) and issubclass(ccdpc.emptypacket, EOFError)
    assert issubclass(ccdpc.protocolerror, ccdpc.error)
    assert issubclass(ccdpc.protocolerror, ValueError)
    assert ccdpc.CCDPCError is ccdpc.error and ccdpc.Timeout is ccdpc.timeout
    assert ccdpc.EmptyPacket is ccdpc.emptypacket and ccdpc.ProtocolError is ccdpc.protocolerror
    assert not issubclass(ccdpc.CommandError, ccdpc.error)


def test_recvatleast_takes_what_is_already_there(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    server.sendall(b"abcdef")  # one segment on loopback: readable means all six are there
    assert select.select([client], [], [], 5)[0] == [client]
    buffer = bytearray(10)
    got, chunks = ccdpc.transport.recvatleast(client, memoryview(buffer), 2, 5)
    assert (got, chunks, bytes(buffer[:got])) == (6, 1, b"abcdef")


def test_recvatleast_waits_for_the_least(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    buffer = bytearray(10)
    server.sendall(b"ab")
    with pytest.raises(timeout, match="Incomplete packet received") as info:
        ccdpc.transport.recvatleast(client, memoryview(buffer), 3, 5, packettimeout=0.1)
    assert (info.value.partial, info.value.expected) == (b"ab", 3)


def test_a_shorter_socket_timeout_is_a_slice_of_the_first_wait(tcp_pair: Pair) -> None:
    """A timeout the socket already has, shorter than the first chunk may take, is kept (no
    system call to set it) and waited again: the first byte still has the whole time."""
    client, server = tcp_pair
    client.settimeout(0.05)
    threading.Timer(0.3, server.sendall, (b"late",)).start()
    assert recvfixed(client, 4, 5) == b"late"


def test_large_receive_failing_before_the_first_byte_reports_the_whole_size(
    tcp_pair: Pair,
) -> None:
    """`recvfixed` waits for the first byte of a large buffer before allocating it; a failure
    then is reported as for the whole buffer."""
    client, server = tcp_pair
    with pytest.raises(timeout, match="select interrupted by timeout") as info:
        recvfixed(client, 2 << 20, 0.1)
    assert (info.value.partial, info.value.expected, info.value.chunks) == (b"", 2 << 20, 0)
    server.close()
    with pytest.raises(emptypacket) as closed:
        recvfixed(client, 2 << 20, 5)
    assert str(closed.value) == "Invalid packet received after 0 other packets, 0 bytes"
    assert closed.value.expected == 2 << 20


def test_large_receive_peeks_then_takes_every_byte(tcp_pair: Pair) -> None:
    client, server = tcp_pair
    payload = bytes(range(256)) * 8192  # 2 MiB, over the size that waits before allocating
    threading.Thread(target=server.sendall, args=(payload,)).start()
    assert recvfixed(client, len(payload), 5) == payload
