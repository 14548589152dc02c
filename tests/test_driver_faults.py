"""Every simulator fault, on every generation where it applies, at driver level: the exact
exception, its message and `.partial`, within a bounded time; then recovery. Each test records
what it saw in the fault matrix (tests/fault_report.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

import ccdpc
from ccdpc import CCDPC, Detector, emptypacket, error, gen1, gen2, gen3, protocolerror, timeout
from ccdpc.sim import Simulator, synthetic_frame

from .fault_report import Case, FaultMatrix

StartSim = Callable[..., Simulator]
FAST = {"replytimeout": 0.5, "packettimeout": 0.3, "connecttimeout": 0.5}
IDLE = b"IDLE frames=0"


def status_reply(protocol: int) -> bytes:
    """What the simulator sends for the first STATUS of a connection (protocol 3 aside)."""
    if protocol == 1:
        return gen1.encode_reply("IDLE frames=0")
    return gen2.encode_packet(gen2.Type.REPLY, b"IDLE frames=0", seq=1)


def recovers(sim: Simulator, case: Case, pc: ccdpc.Connection | None = None) -> None:
    """The PC repaired, the next command works: on the same object (protocol 3 resumes, and
    the late reply to the command that failed is delivered, once) or on a new connection.
    The time it took goes into `case`."""
    sim.set_faults([])
    with case.recovery():
        if pc is not None and pc.protocol_version == 3:
            assert pc.command("TEMP").startswith("-")
            late = [pc.receive(0) for _ in range(pc.pending)]
            assert [m.text for m in late if isinstance(m, ccdpc.Reply)] == ["IDLE frames=0"]
        else:
            with CCDPC(sim.hostname) as again:
                assert again.command("STATUS").startswith("IDLE")
    assert case.recovered is not None and case.recovered < 1


def test_silent_peer(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol, faults=["silent"])
    with fault_matrix.case("silent", protocol) as case:
        with case.timed(2), pytest.raises(timeout) as info:
            CCDPC(sim.hostname, **FAST)
        case.raised(info.value)
        assert str(info.value) == "select interrupted by timeout" and info.value.partial == b""
        recovers(sim, case)


def test_wrong_version(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol, faults=["wrong-version"])
    with fault_matrix.case("wrong-version", protocol) as case:
        with case.timed(2), pytest.raises(protocolerror) as info:
            CCDPC(sim.hostname)
        case.raised(info.value)
        assert "b'CCDPC/9.0     \\r\\n'" in str(info.value)
        assert "Unsupported protocol version 9.0" in str(info.value)
        recovers(sim, case)


def test_stall_first(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["stall-first"])
    with fault_matrix.case("stall-first", protocol) as case:
        with case.timed(2), pytest.raises(timeout) as info:
            pc.command("STATUS")
        case.raised(info.value)
        assert str(info.value) == "select interrupted by timeout"
        assert not pc.connected
        recovers(sim, case, pc)
    pc.close()


def test_stall_mid(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["stall-mid"])
    with fault_matrix.case("stall-mid", protocol) as case:
        with case.timed(2), pytest.raises(timeout) as info:
            pc.command("STATUS")
        case.raised(info.value)
        assert str(info.value) == "Incomplete packet received"
        if protocol == 3:
            assert info.value.partial[:3] == b"C3\x04" and len(info.value.partial) == (24 + 13) // 2
        else:
            whole = status_reply(protocol)
            assert info.value.partial == whole[: len(whole) // 2]
        assert not pc.connected
        recovers(sim, case, pc)
    pc.close()


def test_close_mid(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["close-mid"])
    with fault_matrix.case("close-mid", protocol) as case:
        if protocol == 3:
            # The reply is kept by the session and sent again after the transparent resume.
            with case.timed(2):
                assert pc.command("STATUS") == "IDLE frames=0"
            case.outcome = "ok: resumed, reply sent again"
            assert pc.counters.reconnects == 1
            pc.close()
            return
        whole = status_reply(protocol)
        with case.timed(2), pytest.raises(emptypacket) as info:
            pc.command("STATUS")
        case.raised(info.value)
        assert info.value.partial == whole[: len(whole) // 2]
        assert str(info.value).startswith("Invalid packet received after ")
        assert str(info.value).endswith(f" other packets, {len(whole) // 2} bytes")
        assert not pc.connected
        recovers(sim, case)


def test_garbage(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["garbage"])
    with fault_matrix.case("garbage", protocol) as case:
        with case.timed(2), pytest.raises(protocolerror) as info:
            pc.command("STATUS")
        case.raised(info.value)
        assert all(byte & 0x80 for byte in info.value.partial)
        assert not pc.connected
        pc.close()
        recovers(sim, case)


def test_trickle(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol, faults=["trickle"], trickle_delay=0.0005)
    with fault_matrix.case("trickle", protocol) as case:
        with case.timed(5), CCDPC(sim.hostname) as pc:
            assert pc.command("STATUS") == "IDLE frames=0"
            assert pc.command("TEMP").startswith("-")
            assert pc.counters.packets_received >= 2
        case.outcome = "ok"


def test_slow_network_commands_and_a_frame(
    start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix
) -> None:
    sim = start_sim(protocol, seed=5, faults=["slow"], slow_delay=0.001)
    with fault_matrix.case("slow", protocol) as case:
        with case.timed(20), CCDPC(sim.hostname) as pc:
            assert pc.command("STATUS") == "IDLE frames=0"
            assert pc.command("IDENT").startswith("KAPPACCD-SIM 000005 ")
            frame = Detector(pc).acquire(0, 2)  # 715 kB: 490 chunks of 1460 bytes
            assert (frame.width, frame.height) == (621, 576)
            assert frame.tobytes() == synthetic_frame(621, 576, 5, 1)
            assert pc.command("STATUS") == "IDLE frames=1"
        case.outcome = "ok: commands, a binned frame byte-exact"


def test_slow_network_over_the_packet_timeout(
    start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix
) -> None:
    # 8 bytes, then 2 s to the next chunk: more than the packet timeout (0.3 s).
    sim = start_sim(protocol, slow_chunk=8, slow_delay=2.0)
    pc = CCDPC(sim.hostname, **FAST)  # the greeting comes before the network slows down
    sim.set_faults(["slow"])
    with fault_matrix.case("slow, a chunk late", protocol) as case:
        with case.timed(2), pytest.raises(timeout) as info:
            pc.command("STATUS")
        case.raised(info.value)
        # A chunk came: not "select interrupted by timeout", which means nothing came at all.
        assert str(info.value) == "Incomplete packet received"
        if protocol == 3:
            assert info.value.partial[:3] == b"C3\x04" and len(info.value.partial) == 8
        else:
            assert info.value.partial == status_reply(protocol)[:8]
        assert not pc.connected
        recovers(sim, case, pc)
    pc.close()


def test_half_close(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, replytimeout=5, packettimeout=0.3, connecttimeout=0.5)
    sim.set_faults(["half-close"])
    with fault_matrix.case("half-close", protocol) as case:
        # The FIN is seen at once, long before the 5 s reply timeout (generation 3: after its
        # resumes met the same FIN).
        with case.timed(1), pytest.raises(emptypacket) as info:
            pc.command("STATUS")
        case.raised(info.value)
        assert type(info.value) is emptypacket
        assert str(info.value) == "Invalid packet received after 0 other packets, 0 bytes"
        assert info.value.partial == b""
        assert not pc.connected
        assert pc.counters.reconnects == (3 if protocol == 3 else 0)
        if protocol == 3:  # the command was never executed: no late reply to it
            sim.set_faults([])
            with case.recovery():
                assert pc.command("TEMP").startswith("-")
                messages = (pc.receive(0) for _ in range(pc.pending))
                assert [m.text for m in messages] == [IDLE.decode()]
        else:
            recovers(sim, case)
    pc.close()


def test_header_only(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["header-only"])
    with fault_matrix.case("header-only", protocol) as case:
        with case.timed(2), pytest.raises(timeout) as info:
            pc.command("STATUS")
        case.raised(info.value)
        assert str(info.value) == "Incomplete packet received"
        if protocol == 1:  # a record has no header: its status word
            assert info.value.partial == b"OK "
        elif protocol == 2:
            assert info.value.partial == status_reply(2)[: gen2.HEADER_SIZE]
        else:
            header = gen3.decode_header(info.value.partial)
            assert (header.type, header.length) == (gen3.Type.REPLY, len(IDLE))
        assert not pc.connected
        recovers(sim, case, pc)
    pc.close()


def test_huge_length(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["huge-length"])
    with fault_matrix.case("huge-length", protocol) as case:
        with (
            case.timed(2),
            pytest.raises(protocolerror, match="67108865 bytes, over the limit") as info,
        ):
            pc.command("STATUS")
        case.raised(info.value)
        assert not pc.connected
        pc.close()
        recovers(sim, case)


def test_bad_crc(start_sim: StartSim, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(3)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["bad-crc"])
    with fault_matrix.case("bad-crc", 3) as case:
        with case.timed(2), pytest.raises(protocolerror, match="Bad CRC in REPLY frame") as info:
            pc.command("STATUS")
        case.raised(info.value)
        assert info.value.partial == b"IDLE frames=0"
        pc.close()
        recovers(sim, case)


def test_reset(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.set_faults(["reset"])
    with fault_matrix.case("reset", protocol) as case:
        with case.timed(5), pytest.raises(error) as info:
            pc.command("STATUS")
        case.raised(info.value)
        if protocol == 3:  # every resume is reset again, until the attempts are spent
            assert isinstance(info.value, error) and not isinstance(info.value, protocolerror)
        else:
            assert type(info.value) is error and str(info.value) == "Socket died on us."
            assert isinstance(info.value.__cause__, ConnectionResetError)
        assert not pc.connected
        recovers(sim, case, pc)
    pc.close()


def test_drop_session_loses_and_repeats_nothing(
    start_sim: StartSim, fault_matrix: FaultMatrix
) -> None:
    sim = start_sim(3, faults=["drop-session"], drop_after=700)
    with fault_matrix.case("drop-session", 3) as case:
        with case.timed(30), CCDPC(sim.hostname) as pc:
            replies = [pc.command(text) for text in ["IDENT", "TEMP", "STATUS"] * 60]
            assert pc.counters.reconnects >= 10
        assert replies[2::3] == ["IDLE frames=0"] * 60
        assert len(set(replies[0::3])) == 1
        case.outcome = f"ok: 180 commands over {pc.counters.reconnects} resumes"


def test_drop_session_during_frames(start_sim: StartSim, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(3, seed=9, faults=["drop-session"], drop_after=1_000_000)
    with fault_matrix.case("drop-session, frames", 3) as case:
        with case.timed(30), CCDPC(sim.hostname) as pc:
            detector = Detector(pc)
            digests = [hashlib.sha256(detector.acquire(0, 2).tobytes()).digest() for _ in range(5)]
            assert pc.counters.reconnects >= 2
        expected = [hashlib.sha256(synthetic_frame(621, 576, 9, n)).digest() for n in range(1, 6)]
        assert digests == expected
        case.outcome = f"ok: 5 frames byte-exact over {pc.counters.reconnects} resumes"


def test_server_restart(start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname, **FAST)
    sim.restart()
    with fault_matrix.case("server restart", protocol) as case:
        with case.timed(3), pytest.raises(error) as info:
            pc.command("STATUS")
        case.raised(info.value)
        if protocol == 3:
            assert isinstance(info.value, ccdpc.SessionLost)
            assert f"unknown session {pc.session_id}" in str(info.value)  # type: ignore[attr-defined]
        assert not pc.connected
        pc.close()
        recovers(sim, case)
