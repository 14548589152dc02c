"""`Simulator`: a real TCP server playing the control PC of generation 1, 2 or 3.

Threads: one accepts connections, one ticks the detector (so events go out when transitions are
due, not when someone asks), and each connection has a reader and a writer (`ccdpc.sim.link`).
All are daemon threads, and `stop` joins them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType

from .detector import Detector
from .faults import check_faults
from .hub import Hub, Settings
from .link import Link

__all__ = ["Simulator"]

_ACCEPT_POLL = 0.1
_TICK_MAX = 0.5
_JOIN = 1.0


class Simulator:
    """The simulated control PC, serving one generation on a TCP port.

        >>> with Simulator(protocol=2) as sim:
        ...     pc = ccdpc.CCDPC(sim.hostname)

    `port` 0 picks a free port (read `port` after `start`). `faults` are names from
    `ccdpc.sim.FAULTS`; `bad-crc` and `drop-session` need protocol 3 (`ValueError` otherwise).
    `seed` makes the serial number, session ids, images and garbage reproducible. `minor` goes
    into the greeting. `drop_after` is the byte count of the `drop-session` fault (default 1000);
    with `drop_random`, each connection is cut at a point drawn from 1..drop_after instead
    (seeded, so a run is reproducible). `trickle_delay` is the pause between bytes of `trickle`.
    `slow_chunk` and `slow_delay` are the chunk size (bytes) and the pause between chunks
    (seconds) of `slow`.
    """

    def __init__(  # noqa: PLR0917 - the published signature
        self,
        protocol: int = 3,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Iterable[str] = (),
        seed: int = 0,
        minor: int = 0,
        drop_after: int | None = None,
        trickle_delay: float = 0.0005,
        *,
        drop_random: bool = False,
        slow_chunk: int = 1460,
        slow_delay: float = 0.002,
    ) -> None:
        if protocol not in (1, 2, 3):
            raise ValueError(f"protocol must be 1, 2 or 3, not {protocol!r}")
        if not 0 <= minor <= 9999:
            raise ValueError(f"minor version must be 0 to 9999, not {minor}")
        if drop_after is not None and drop_after < 0:
            raise ValueError(f"drop_after must be at least 0, not {drop_after}")
        if trickle_delay < 0:
            raise ValueError(f"trickle_delay must be at least 0, not {trickle_delay}")
        if slow_chunk < 1:
            raise ValueError(f"slow_chunk must be at least 1, not {slow_chunk}")
        if slow_delay < 0:
            raise ValueError(f"slow_delay must be at least 0, not {slow_delay}")
        settings = Settings(
            protocol,
            minor,
            seed,
            drop_after,
            trickle_delay,
            drop_random,
            slow_chunk=slow_chunk,
            slow_delay=slow_delay,
        )
        self._hub = Hub(settings, check_faults(faults, protocol))
        self.host = host
        self.port = port
        self.protocol = protocol
        #: Client connections accepted so far (refused ones too), across restarts.
        self.connections = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._links: list[Link] = []
        self._wake = threading.Event()
        self._hub.detector.on_change = self._wake.set

    # -- public API -------------------------------------------------------------------------------

    @property
    def hostname(self) -> str:
        """``"host:port"``, what `ccdpc.CCDPC` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def detector(self) -> Detector:
        """The simulated detector (`state`, `frames_taken`, `fail(message)`, ...)."""
        return self._hub.detector

    @property
    def faults(self) -> frozenset[str]:
        """The faults in force."""
        return self._hub.faults

    def set_faults(self, faults: Iterable[str], *, once: bool = False) -> None:
        """Change the faults; they act on the messages and connections that follow.

        With `once`, each acts once and is then cleared: a glitch, which a generation 3 client
        rides out by resuming its session on a connection that works.
        """
        self._hub.set_faults(tuple(faults), once=once)

    @property
    def connected(self) -> bool:
        """True while a controlling client is connected."""
        return self._hub.active

    @property
    def idle_timeout(self) -> float:
        """Generation 3: seconds of client silence before the server hangs up (default 60)."""
        return self._hub.settings.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds: float) -> None:
        self._hub.settings.idle_timeout = seconds

    @property
    def session_timeout(self) -> float:
        """Generation 3: seconds a session stays resumable after its connection is lost (300)."""
        return self._hub.sessions.lifetime

    @session_timeout.setter
    def session_timeout(self, seconds: float) -> None:
        self._hub.sessions.lifetime = seconds

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Bind, listen and serve in background threads; returns once connections are accepted.

        Every start is a new run of the PC: the detector is reset and no session is known.
        """
        if self._listener is not None:
            raise RuntimeError("the simulator is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self.port), family=family)
        listener.settimeout(_ACCEPT_POLL)
        self.port = listener.getsockname()[1]
        self._hub.new_run()
        self._listener = listener
        self._wake.clear()
        self._threads = [
            threading.Thread(target=self._accept_loop, name="ccdpc-sim-accept", daemon=True),
            threading.Thread(target=self._tick_loop, name="ccdpc-sim-tick", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Close the listener and every connection, join the threads. Idempotent, quick."""
        listener = self._listener
        if listener is None:
            return
        self._hub.stop()
        self._wake.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes accept() at once on Linux
        for thread in self._threads:
            thread.join(_JOIN)
        listener.close()
        self._listener = None
        self._close_links()
        self._threads = []

    def restart(self) -> None:
        """Stop, then start again on the same port: a rebooted PC, which knows no old session."""
        self.stop()
        self.start()

    def disconnect_clients(self) -> None:
        """Close every client connection now (FIN), as a lost link would; sessions survive."""
        self._close_links()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Simulator protocol {self.protocol} {self.hostname} {state}>"

    # -- threads ----------------------------------------------------------------------------------

    def _close_links(self) -> None:
        with self._hub.lock:
            links, self._links = self._links, []
        for link in links:
            link.disconnect()
        deadline = time.monotonic() + _JOIN
        for link in links:
            link.join(max(deadline - time.monotonic(), 0.0))

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._hub.stopping:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._hub.stopping:
                    return
                time.sleep(_ACCEPT_POLL)  # out of file descriptors, say: do not spin
                continue
            sock.settimeout(self._hub.settings.send_timeout)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._hub.lock:
                if self._hub.stopping:
                    sock.close()
                    return
                self.connections += 1
                link = Link(self._hub, sock, self.connections)
                self._links = [old for old in self._links if old.alive]
                self._links.append(link)
            link.start()

    def _tick_loop(self) -> None:
        detector = self._hub.detector
        while not self._hub.stopping:
            self._hub.tick()
            self._wake.clear()
            due = detector.next_change()
            wait = _TICK_MAX if due is None else min(max(due - time.monotonic(), 0.0), _TICK_MAX)
            self._wake.wait(wait)
