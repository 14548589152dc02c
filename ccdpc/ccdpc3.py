"""`CCDPC3`: generation 3, the level 5 session protocol with transparent resume."""

from __future__ import annotations

import socket
import time
from typing import Any

from . import config
from .connection import Connection, handshake
from .errors import Timeout, emptypacket, error, protocolerror
from .gen3 import Frame3, FrameDecoder, Type
from .greeting import parse_greeting
from .level5 import ClientSession
from .messages import Message, Reply

__all__ = ["CCDPC3"]

#: Commands over this many bytes are refused before sending (the server would refuse them too).
MAX_COMMAND = 4096
# Seconds a ping may come late, so that back-to-back calls wait for the same time.
_PING_SLACK = 0.01


def _link_lost(exc: error) -> bool:
    """A lost connection (worth a resume), as opposed to a timeout or a protocol violation."""
    return isinstance(exc, emptypacket) or type(exc) is error


class CCDPC3(Connection):
    """Generation 3: a session over TCP that survives dropped connections.

    When the connection is lost, the next operation (or `resume`) reconnects and resumes the
    session, up to `resume_attempts` times in a row without progress: no reply, data or event is
    lost or delivered twice. A resume is given at least `connecttimeout`, even inside a shorter
    `receive`. While waiting, the driver pings after `ping_interval` seconds without a frame from
    the server, across calls, so a client that polls with short timeouts keeps the session alive.
    A command is numbered and kept before it is written: if the write and the resume after it both
    fail, the command is still sent on the next resume and its reply will arrive (for `receive`).
    `close()` ends the session on the server.
    """

    protocol_version = 3
    _decoder: FrameDecoder

    def __init__(
        self,
        sock: socket.socket,
        host: str,
        port: int,
        version: tuple[int, int],
        *,
        resume_attempts: int = 3,
        ping_interval: float = 5.0,
        **kw: Any,
    ) -> None:
        super().__init__(sock, host, port, version, **kw)
        self.resume_attempts = resume_attempts
        self.ping_interval = ping_interval
        self.session = ClientSession()
        self._decoder = FrameDecoder(self.max_payload)
        self._closed = False
        self._last_heard = time.monotonic()
        self._ping_sent: float | None = None
        try:
            self._open(time.monotonic() + self.connecttimeout)
        except BaseException:
            self._drop()
            raise

    @property
    def session_id(self) -> int:
        """The id the server gave this session."""
        return self.session.session

    def resume(self, timeout: float | None = None) -> None:
        """Reconnect and resume the session now, if the connection is down (else nothing)."""
        limit = self.connecttimeout if timeout is None else timeout
        self._acquire(limit)
        try:
            self._require_link(time.monotonic() + limit)
        finally:
            self._lock.release()

    def suspend(self) -> None:
        """Drop the connection but keep the session: for a caller that judges the link dead where
        the driver cannot tell (a reply overdue: a hung PC and a link that stopped carrying look
        the same from here).

        `connected` is False afterwards; the next operation, or `resume`, connects again and
        resumes the session: the server sends again what it sent and we did not acknowledge (the
        reply overdue, if it was made), we send again the commands it did not acknowledge, and
        duplicates are dropped, so nothing is lost or delivered twice. Without the lock, so it is
        safe from any thread, like `close`: a call under way in another thread sees its socket
        closed and resumes (or fails, if resuming does).
        """
        self._drop()

    def close(self, timeout: float | None = None) -> None:
        """End the session on the server (CLOSE, answered by CLOSE), then close the socket.

        Waits at most `timeout` seconds for the answer (default: the packet timeout).
        """
        if self._lock.acquire(timeout=config.idleinterval):
            try:
                self._closed = True
                self._close_session(self._between() if timeout is None else timeout)
            finally:
                self._lock.release()
        self._closed = True
        self._drop()

    def _close_session(self, timeout: float) -> None:
        if self._sock is None or not self.session.session:
            return
        deadline = time.monotonic() + timeout
        try:
            self._write(self.session.control_frame(Type.CLOSE))
            while timeout > 0 and self._next_event(self._decoder, deadline).type is not Type.CLOSE:
                pass
        except error:
            pass  # the session ends anyway: the server forgets it when it expires

    # -- generation hooks --------------------------------------------------------------------

    def _send_command(self, payload: bytes) -> int:
        if len(payload) > MAX_COMMAND:
            raise ValueError(f"a command holds at most {MAX_COMMAND} bytes, not {len(payload)}")
        seq, frame = self.session.command_frame(payload)
        try:
            self._write(frame)
        except error as exc:
            if not _link_lost(exc):
                raise
            # The command is kept until acknowledged: the resume sends it again.
            self._resume(time.monotonic() + self.connecttimeout, exc)
        return seq

    def _read_message(self, deadline: float) -> Message:
        failures = 0  # resumes in a row that brought no frame at all
        on_frame = self.session.on_frame
        while True:
            try:
                frame = self._next_frame(deadline)
            except error as exc:
                failures += 1
                if not _link_lost(exc) or failures > self.resume_attempts:
                    raise
                self._resume(max(deadline, time.monotonic() + self.connecttimeout), exc)
                continue
            failures = 0
            message, answer = on_frame(frame)
            if answer is not None:
                self._write(answer)
            if message is not None:
                return message

    def _last_words(self) -> str | None:
        return None  # a lost generation 3 link is resumed, not explained

    def _is_reply_to(self, reply: Reply, seq: int) -> bool:
        if reply.seq == seq:
            return True
        if reply.seq < seq:
            # The late answer to a command that timed out (the session still delivers it),
            # or to one sent with `send`: it waits for `receive`.
            return False
        raise protocolerror(f"Reply to command {reply.seq} while awaiting command {seq}")

    def _require_link(self, deadline: float) -> None:
        if self._closed:
            raise error(f"Session {self.session.session} to {self.host}:{self.port} is closed")
        if self._sock is None:
            self._resume(max(deadline, time.monotonic() + self.connecttimeout), None)

    # -- session machinery -------------------------------------------------------------------

    def _open(self, deadline: float) -> None:
        self._write(self.session.open_frame())
        for frame in self.session.on_opened(self._next_event(self._decoder, deadline)):
            self._write(frame)
        self._last_heard, self._ping_sent = time.monotonic(), None

    def _next_frame(self, deadline: float) -> Frame3:
        """The next frame. After `ping_interval` without a frame from the server (counted across
        calls), send PING; no frame within the packet timeout after it means the link is dead."""
        now = time.monotonic()
        if self._ping_sent is None:
            heard = self._last_heard
            if now - heard < _PING_SLACK:
                # A frame came just now: count from now, a ping at most that much late, and
                # the wait is the same as the last one, so the socket's timeout need not be
                # set again (a system call per command).
                heard = now
            heard += self.ping_interval
            if now < heard:  # no ping due: the usual case, in one wait
                waiting = self._rx_end > self._rx_start
                try:
                    frame = self._next_event(
                        self._decoder, deadline if deadline < heard else heard, now
                    )
                except Timeout as exc:
                    if exc.partial or self._decoder.mid_message or time.monotonic() >= deadline:
                        raise
                    return self._ping_and_wait(deadline)
                # Bytes read ahead: the frame (or its start) was here at `now`, and the clock
                # need not be read again. A ping that comes early by the time the rest took is
                # harmless; one that comes late is not, hence the clock after a wait.
                self._last_heard = now if waiting else time.monotonic()
                return frame
        return self._ping_and_wait(deadline)

    def _ping_and_wait(self, deadline: float) -> Frame3:
        """`_next_frame` once a ping is due or out."""
        decoder = self._decoder
        while True:
            now = time.monotonic()
            if self._ping_sent is None and now - self._last_heard >= self.ping_interval:
                self._write(self.session.control_frame(Type.PING, b"ccdpc"))
                self._ping_sent = now
            if self._ping_sent is not None:
                dead_at = self._ping_sent + self._between()
                if now >= dead_at:
                    self._drop()
                    raise Timeout(f"No answer to a ping within {self._between():g} s")
                until = min(deadline, dead_at)
            else:
                until = min(deadline, self._last_heard + self.ping_interval)
            try:
                frame = self._next_event(decoder, until, now)
                break
            except Timeout as exc:
                if exc.partial or decoder.mid_message or time.monotonic() >= deadline:
                    raise
        self._last_heard, self._ping_sent = time.monotonic(), None
        return frame

    def _resume(self, deadline: float, cause: error | None) -> None:
        """Connect again and resume the session; the server then sends what we missed."""
        self._drop()
        last = cause
        for attempt in range(self.resume_attempts):
            if self._closed:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                sock, greeting = handshake(
                    self.host, self.port, min(self.connecttimeout, remaining), self.idletask
                )
                version = parse_greeting(greeting)
                if version[0] != self.protocol_version:
                    sock.close()
                    raise protocolerror(f"Resume found a different server: greeting {greeting!r}")
                self._sock, self._version = sock, version
                self._decoder = FrameDecoder(self.max_payload)
                self._open(deadline)
            except error as exc:
                self._drop()
                if not _link_lost(exc):
                    raise
                last = exc
                time.sleep(min(0.05 * 2**attempt, max(deadline - time.monotonic(), 0)))
                continue
            self.counters.reconnects += 1
            return
        if self._closed:
            raise error(f"Session {self.session.session} to {self.host}:{self.port} is closed")
        raise last or error(f"Cannot resume session {self.session.session}")
