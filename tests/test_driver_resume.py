"""Generation 3 exactly-once delivery: the connection is cut at random points (seeded) during a
stream of replies, events and frames; every message must arrive once, in order, byte-exact."""

from __future__ import annotations

import hashlib

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


def test_frames_survive_random_cuts_byte_exact() -> None:
    size = 621 * 576 * 2
    with Simulator(
        protocol=3, faults=["drop-session"], drop_after=3 * size, drop_random=True, seed=12
    ) as sim:
        pc = CCDPC(sim.hostname)
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.resume_attempts = 20
        detector = Detector(pc)
        digests = []
        while pc.counters.reconnects < 10:
            digests.append(hashlib.sha256(detector.acquire(0, 2).tobytes()).digest())
            while pc.pending:
                assert not isinstance(pc.receive(0), Data)  # no stray data: each frame once
        pc.close()
    expected = [
        hashlib.sha256(synthetic_frame(621, 576, 12, n)).digest()
        for n in range(1, len(digests) + 1)
    ]
    assert digests == expected


def test_frames_into_a_lent_buffer_survive_random_cuts() -> None:
    """A cut mid-frame gives the buffer back: the retransmitted frame lands in it too."""
    size = 621 * 576 * 2
    with Simulator(
        protocol=3, faults=["drop-session"], drop_after=3 * size, drop_random=True, seed=13
    ) as sim:
        pc = CCDPC(sim.hostname)
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.resume_attempts = 20
        lent = bytearray(size)
        digests = []
        while pc.counters.reconnects < 10:
            pc.command("EXPOSE 0 2")
            while not isinstance(message := pc.receive(5), Event) or message.text != "STATE IDLE":
                pass
            frame = pc.read_frame(into=lent)
            assert frame.pixels is lent
            digests.append(hashlib.sha256(lent).digest())
        pc.close()
    expected = [
        hashlib.sha256(synthetic_frame(621, 576, 13, n)).digest()
        for n in range(1, len(digests) + 1)
    ]
    assert digests == expected
