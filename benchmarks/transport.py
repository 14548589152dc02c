"""recvfixed of a 2.86 MB frame over loopback TCP, against raw recv_into and the 2009 way."""

from __future__ import annotations

import select
import socket
import threading

from ccdpc import recvfixed

from .harness import Result, interleaved_samples, per_call

FRAME = 1242 * 1152 * 2


class Blaster:
    """A loopback peer that sends `size` bytes each time it is asked (one request byte)."""

    def __init__(self, size: int) -> None:
        self.payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        listener = socket.create_server(("127.0.0.1", 0))
        self.client = socket.create_connection(listener.getsockname(), timeout=10)
        self._server, _ = listener.accept()
        listener.close()
        self._server.settimeout(10)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while self._server.recv(1):
                self._server.sendall(self.payload)
        except OSError:
            pass

    def ask(self) -> socket.socket:
        self.client.sendall(b"?")
        return self.client

    def close(self) -> None:
        self.client.close()
        self._server.close()
        self._thread.join(5)


def raw_recv_into(sock: socket.socket, buffer: bytearray) -> None:
    view = memoryview(buffer)
    got = 0
    while got < len(buffer):
        got += sock.recv_into(view[got:])


def select_and_concatenate(sock: socket.socket, length: int) -> bytes:
    """How drivers of 2009 did it: select, recv, append to a string."""
    data = b""
    while len(data) < length:
        select.select([sock], [], [], 30)
        data = data + sock.recv(length - len(data))
    return data


def run(quick: bool = False) -> list[Result]:
    size = 65536 if quick else FRAME
    rounds, number = (3, 2) if quick else (25, 10)
    blaster = Blaster(size)
    buffer = bytearray(size)
    try:
        sock = blaster.client
        sock.settimeout(None)
        samples = interleaved_samples(
            lambda: per_call(lambda: raw_recv_into(blaster.ask(), buffer), number),
            lambda: per_call(lambda: recvfixed(blaster.ask(), size, 30), number),
            lambda: per_call(lambda: select_and_concatenate(blaster.ask(), size), number),
            rounds=rounds,
        )
    finally:
        blaster.close()
    mb = size / 1e6
    raw, project, old = ([mb / seconds for seconds in figures] for figures in samples)
    return [
        Result.paired("recvfixed 2.86 MB, loopback", "MB/s", raw, project, ">= 0.95x"),
        Result.paired("select + concatenation (2009), loopback", "MB/s", raw, old),
    ]
