"""Generation 3 exactly-once delivery: the connection is cut at random points (seeded) during a
stream of replies, events and frames; every message must arrive once, in order, byte-exact."""

from __future__ import annotations

import hashlib

import numpy
import pytest

import ccdpc
from ccdpc import CCDPC, Data, Detector, Event
from ccdpc.sim import Simulator, synthetic_frame


def test_replies_and_events_survive_100_random_cuts() -> None:
    with Simulator(
        protocol=3, faults=["drop-session"], drop_after=600, drop_random=True, seed=11
    ) as sim:
        pc = CCDPC(sim.hostname)
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.resume_attempts = 10
        replies, events = [], []
        frames = 0
        while pc.counters.reconnects < 100:
            replies.append(pc.command("EXPOSE 0 2"))
            while True:  # the events of the exposure, up to its frame and the return to IDLE
                message = pc.receive(5)
                assert isinstance(message, Event)
                events.append(message.text)
                if message.text == "STATE IDLE":
                    break
            frames += 1
            replies.append(pc.command("STATUS"))
        session = pc.session_id
        pc.close()
    assert session != 0
    assert replies[0::2] == ["EXPOSING 0.000 2"] * frames
    assert replies[1::2] == [f"IDLE frames={n}" for n in range(1, frames + 1)]
    expected = []
    for n in range(1, frames + 1):
        expected += ["STATE EXPOSING", "STATE READING", f"FRAME {n} 621 576", "STATE IDLE"]
    assert events == expected  # every event once, in order, across 100 resumes


@pytest.mark.parametrize("lend", [False, True], ids=["new buffers", "lent buffer"])
def test_frames_survive_random_cuts_byte_exact(lend: bool) -> None:
    """With a lent buffer, a cut mid-frame gives it back: the retransmission lands in it too."""
    size = 621 * 576 * 2
    seed = 13 if lend else 12
    with Simulator(
        protocol=3, faults=["drop-session"], drop_after=3 * size, drop_random=True, seed=seed
    ) as sim:
        pc = CCDPC(sim.hostname)
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.resume_attempts = 20
        detector = Detector(pc)
        lent = bytearray(size) if lend else None
        digests = []
        while pc.counters.reconnects < 10:
            detector.expose(0, 2)
            detector.wait(10)
            frame = detector.read_frame(into=lent)
            if lent is not None:
                assert numpy.shares_memory(frame.pixels, numpy.frombuffer(lent, numpy.uint8))
            digests.append(hashlib.sha256(frame.tobytes()).digest())
            while pc.pending:
                assert not isinstance(pc.receive(0), Data)  # no stray data: each frame once
        pc.close()
    expected = [
        hashlib.sha256(synthetic_frame(621, 576, seed, n)).digest()
        for n in range(1, len(digests) + 1)
    ]
    assert digests == expected


def test_suspend_drops_the_socket_and_keeps_the_session() -> None:
    """A caller that judges the link dead (a reply overdue) suspends: the next operation resumes
    the session; the command the PC swallowed goes again and is answered once, events too."""
    with Simulator(protocol=3) as sim:
        pc = CCDPC(sim.hostname)
        assert isinstance(pc, ccdpc.CCDPC3)
        session = pc.session_id
        sim.set_faults(["stall-first"], once=True)
        seq = pc.send(b"EXPOSE 0 2")  # swallowed: no reply will come on this connection
        with pytest.raises(ccdpc.timeout):
            pc.receive(0.2)
        assert pc.connected  # a timeout before any byte leaves the link up: the driver can't tell
        pc.suspend()
        assert (pc.connected, pc.session_id) == (False, session)
        reply = pc.receive(2)  # resumes: EXPOSE is sent again, and now answered
        assert isinstance(reply, ccdpc.Reply)
        assert (reply.text, reply.seq) == ("EXPOSING 0.000 2", seq)
        events = [pc.receive(2) for _ in range(4)]
        assert [e.text for e in events if isinstance(e, Event)] == [
            "STATE EXPOSING",
            "STATE READING",
            "FRAME 1 621 576",
            "STATE IDLE",
        ]
        assert pc.command("STATUS") == "IDLE frames=1"  # executed once
        with pytest.raises(ccdpc.timeout):
            pc.receive(0.2)  # nothing twice
        assert (pc.session_id, pc.counters.reconnects) == (session, 1)
        pc.close()
