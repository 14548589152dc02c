"""Generation 3 sessions, server side: numbering, keeping frames until acknowledged, expiry.

A session outlives its connections: the reliable frames it sent stay here until the client's
`ack` covers them, and are sent again (flag `RETRANSMIT`) when the client resumes.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..gen3 import RETRANSMIT, Type, encode_frame, encode_header
from .outgoing import Outgoing, Part

__all__ = ["SESSION_LIFETIME", "Session", "SessionTable"]

#: Seconds a session stays resumable after its connection is lost.
SESSION_LIFETIME = 300.0


@dataclass(frozen=True)
class _Kept:
    type: Type
    seq: int
    flags: int
    payload: bytes


class Session:
    """One session: the client's commands received in order, the server's frames not yet acked."""

    def __init__(self, session_id: int) -> None:
        self.id = session_id
        #: The highest client sequence number received in order (what `ack` fields carry).
        self.received = 0
        self.closed = False
        #: `time.monotonic()` when its connection was lost; None while attached.
        self.lost_at: float | None = None
        self._next_seq = 1
        self._kept: OrderedDict[int, _Kept] = OrderedDict()
        self._out: Callable[[Outgoing], None] | None = None

    @property
    def unacknowledged(self) -> int:
        """How many reliable frames the client has not acknowledged yet."""
        return len(self._kept)

    def reliable(self, type: Type, payload: bytes, flags: int = 0) -> tuple[Part, ...]:
        """Number a reply, data or event frame and keep it until acknowledged; its parts."""
        kept = _Kept(type, self._next_seq, flags, payload)
        self._next_seq += 1
        self._kept[kept.seq] = kept
        return self._encode(kept, flags)

    def control(self, type: Type, payload: bytes = b"") -> bytes:
        """A control frame (sequence 0, never kept) carrying the current `ack`."""
        return encode_frame(type, payload, session=self.id, ack=self.received)

    def acknowledge(self, ack: int) -> None:
        """The client has everything up to `ack`: forget those frames."""
        while self._kept and next(iter(self._kept)) <= ack:
            self._kept.popitem(last=False)

    def retransmissions(self) -> list[tuple[Part, ...]]:
        """Every kept frame again, in order, flagged `RETRANSMIT`, with the current `ack`."""
        return [self._encode(kept, kept.flags | RETRANSMIT) for kept in self._kept.values()]

    def attach(self, out: Callable[[Outgoing], None]) -> None:
        """A connection serves this session now; frames made from now on go to `out`."""
        self._out = out
        self.lost_at = None

    def detach(self, out: Callable[[Outgoing], None]) -> None:
        """The connection that sent through `out` is gone; the session waits for a resume."""
        if self._out == out:
            self._out = None
            self.lost_at = time.monotonic()

    def event(self, text: str) -> None:
        """An event: numbered and kept even while detached, so a resume delivers it."""
        if self.closed:
            return
        frame = self.reliable(Type.EVENT, text.encode("ascii"))
        if self._out is not None:
            self._out(Outgoing([frame]))

    def _encode(self, kept: _Kept, flags: int) -> tuple[Part, ...]:
        header = encode_header(
            kept.type,
            kept.payload,
            session=self.id,
            seq=kept.seq,
            ack=self.received,
            flags=flags,
        )
        return (header, kept.payload) if kept.payload else (header,)


class SessionTable:
    """The sessions one server run knows; a restarted server starts with an empty table."""

    def __init__(self, rng: random.Random, lifetime: float = SESSION_LIFETIME) -> None:
        self.lifetime = lifetime
        self._rng = rng
        self._sessions: dict[int, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def new(self) -> Session:
        """A session with a fresh nonzero id."""
        while True:
            session_id = self._rng.randrange(1, 2**32)
            if session_id not in self._sessions:
                break
        session = self._sessions[session_id] = Session(session_id)
        return session

    def find(self, session_id: int) -> Session | None:
        """The session with this id if it is still resumable."""
        self.purge()
        return self._sessions.get(session_id)

    def forget(self, session: Session) -> None:
        session.closed = True
        self._sessions.pop(session.id, None)

    def purge(self, now: float | None = None) -> list[Session]:
        """Forget the sessions detached for longer than `lifetime`; return them."""
        when = time.monotonic() if now is None else now
        expired = [
            session
            for session in self._sessions.values()
            if session.lost_at is not None and when - session.lost_at > self.lifetime
        ]
        for session in expired:
            self.forget(session)
        return expired

    def clear(self) -> None:
        for session in list(self._sessions.values()):
            self.forget(session)
