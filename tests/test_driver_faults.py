"""Every simulator fault, on every generation where it applies, at driver level: the exact
exception, its message and `.partial`, within a bounded time; then recovery."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest

import ccdpc
from ccdpc import CCDPC, Detector, emptypacket, error, gen1, gen2, protocolerror, timeout
from ccdpc.sim import Simulator, synthetic_frame

StartSim = Callable[..., Simulator]
FAST = {"replytimeout": 0.5, "packettimeout": 0.3, "connecttimeout": 0.5}


class Clock:
    """Asserts that what it times ends within a bound."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start
        assert self.elapsed < self.limit, f"took {self.elapsed:.2f} s"


def status_reply(protocol: int) -> bytes:
    """What the simulator sends for the first STATUS of a connection (protocol 3 aside)."""
    if protocol == 1:
        return gen1.encode_reply("IDLE frames=0")
    return gen2.encode_packet(gen2.Type.REPLY, b"IDLE frames=0", seq=1)


def recovers(sim: Simulator, pc: ccdpc.Connection | None = None) -> None:
    """The PC repaired, the next command works: on the same object (protocol 3 resumes, and
    the late reply to the command that failed is delivered, once) or on a new connection."""
    sim.set_faults([])
    start = time.monotonic()
    if pc is not None and pc.protocol_version == 3:
        assert pc.command("TEMP").startswith("-")
        late = [pc.receive(0) for _ in range(pc.pending)]
        assert [m.text for m in late if isinstance(m, ccdpc.Reply)] == ["IDLE frames=0"]
    else:
        with CCDPC(sim.hostname) as again:
            assert again.command("STATUS").startswith("IDLE")
    assert time.monotonic() - start < 1


def test_silent_peer(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, faults=["silent"])
    with Clock(2), pytest.raises(timeout) as info:
        CCDPC(sim.hostname, **FAST)
    assert str(info.value) == "select interrupted by timeout" and info.value.partial == b""
    recovers(sim)


def test_wrong_version(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, faults=["wrong-version"])
    with pytest.raises(protocolerror) as info:
        CCDPC(sim.hostname)
    assert "b'CCDPC/9.0     \\r\\n'" in str(info.value)
    assert "Unsupported protocol version 9.0" in str(info.value)
    recovers(sim)


def test_stall_first(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["stall-first"])
    with Clock(2), pytest.raises(timeout) as info:
        pc.command("STATUS")
    assert str(info.value) == "select interrupted by timeout"
    assert not pc.connected
    recovers(sim, pc)
    pc.close()


def test_stall_mid(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["stall-mid"])
    with Clock(2), pytest.raises(timeout) as info:
        pc.command("STATUS")
    assert str(info.value) == "Incomplete packet received"
    if protocol == 3:
        assert info.value.partial[:3] == b"C3\x04" and len(info.value.partial) == (24 + 13) // 2
    else:
        whole = status_reply(protocol)
        assert info.value.partial == whole[: len(whole) // 2]
    assert not pc.connected
    recovers(sim, pc)
    pc.close()


def test_close_mid(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["close-mid"])
    if protocol == 3:
        # The reply is kept by the session and sent again after the transparent resume.
        with Clock(2):
            assert pc.command("STATUS") == "IDLE frames=0"
        assert pc.counters.reconnects == 1
        pc.close()
        return
    whole = status_reply(protocol)
    with Clock(2), pytest.raises(emptypacket) as info:
        pc.command("STATUS")
    assert info.value.partial == whole[: len(whole) // 2]
    assert str(info.value).startswith("Invalid packet received after ")
    assert str(info.value).endswith(f" other packets, {len(whole) // 2} bytes")
    assert not pc.connected
    recovers(sim)


def test_garbage(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["garbage"])
    with Clock(2), pytest.raises(protocolerror) as info:
        pc.command("STATUS")
    assert all(byte & 0x80 for byte in info.value.partial)
    assert not pc.connected
    pc.close()
    recovers(sim)


def test_trickle(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, faults=["trickle"], trickle_delay=0.0005)
    with Clock(5), CCDPC(sim.hostname) as pc:
        assert pc.command("STATUS") == "IDLE frames=0"
        assert pc.command("TEMP").startswith("-")
        assert pc.counters.packets_received >= 2


def test_huge_length(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["huge-length"])
    with Clock(2), pytest.raises(protocolerror, match="67108865 bytes, over the limit"):
        pc.command("STATUS")
    assert not pc.connected
    pc.close()
    recovers(sim)


def test_bad_crc(start_sim: StartSim) -> None:
    sim = start_sim(3)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["bad-crc"])
    with Clock(2), pytest.raises(protocolerror, match="Bad CRC in REPLY frame") as info:
        pc.command("STATUS")
    assert info.value.partial == b"IDLE frames=0"
    pc.close()
    recovers(sim)


def test_reset(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["reset"])
    with Clock(5), pytest.raises(error) as info:
        pc.command("STATUS")
    if protocol == 3:  # every resume is reset again, until the attempts are spent
        assert isinstance(info.value, error) and not isinstance(info.value, protocolerror)
    else:
        assert type(info.value) is error and str(info.value) == "Socket died on us."
        assert isinstance(info.value.__cause__, ConnectionResetError)
    assert not pc.connected
    recovers(sim, pc)
    pc.close()


def test_drop_session_loses_and_repeats_nothing(start_sim: StartSim) -> None:
    sim = start_sim(3, faults=["drop-session"], drop_after=700)
    with CCDPC(sim.hostname) as pc:
        replies = [pc.command(text) for text in ["IDENT", "TEMP", "STATUS"] * 60]
        assert pc.counters.reconnects >= 10
    assert replies[2::3] == ["IDLE frames=0"] * 60
    assert len(set(replies[0::3])) == 1


def test_drop_session_during_frames(start_sim: StartSim) -> None:
    sim = start_sim(3, seed=9, faults=["drop-session"], drop_after=1_000_000)
    with CCDPC(sim.hostname) as pc:
        detector = Detector(pc)
        digests = [hashlib.sha256(detector.acquire(0, 2).tobytes()).digest() for _ in range(5)]
        assert pc.counters.reconnects >= 2
    expected = [hashlib.sha256(synthetic_frame(621, 576, 9, n)).digest() for n in range(1, 6)]
    assert digests == expected


def test_server_restart(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.restart()
    with Clock(3), pytest.raises(error) as info:
        pc.command("STATUS")
    if protocol == 3:
        assert isinstance(info.value, ccdpc.SessionLost)
        assert f"unknown session {pc.session_id}" in str(info.value)  # type: ignore[attr-defined]
    assert not pc.connected
    pc.close()
    recovers(sim)
