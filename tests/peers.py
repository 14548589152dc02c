"""Test peers: misbehaving TCP servers and raw-socket helpers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class ScriptedPeer:
    """A one-connection TCP server that runs `script(conn)` in a thread: a peer that misbehaves
    exactly as a test needs. `received` collects what the script read."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self.port = self._listener.getsockname()[1]
        self.hostname = f"127.0.0.1:{self.port}"
        self.error: BaseException | None = None
        self._script = script
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._script(conn)
            except OSError as exc:
                self.error = exc

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=15)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """Test-side helper: `size` bytes from `sock` (the socket's own timeout bounds it)."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"peer closed after {len(data)} of {size} bytes")
        data += chunk
    return data
