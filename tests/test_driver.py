"""The driver against the simulator, every generation: the factory, commands, frames, events,
tracing, the detector layer, and the one-client rule."""

from __future__ import annotations

import hashlib
import io
import select
import threading
import time
from collections.abc import Callable

import numpy
import pytest

import ccdpc
from ccdpc import CCDPC, CommandError, Data, Detector, DetectorState, Event, Reply, Status
from ccdpc.sim import Simulator, synthetic_frame

from .fault_report import FaultMatrix

StartSim = Callable[..., Simulator]
CLASSES = {1: ccdpc.StandardCCDPC, 2: ccdpc.NewCCDPC, 3: ccdpc.CCDPC3}


def test_factory_returns_the_class_of_the_generation(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    with CCDPC(sim.hostname) as pc:
        assert type(pc) is CLASSES[protocol]
        assert pc.protocol_version == protocol
        assert pc.server_version == f"{protocol}.0"
        assert pc.connected
        model, serial, _version = pc.command("IDENT").split()
        assert model == "KAPPACCD-SIM" and len(serial) == 6
        assert pc.command("status") == "IDLE frames=0"
        assert -70 < float(pc.command("TEMP")) < -50
        assert pc.command("SHUTTER   OPEN") == "SHUTTER OPEN"
        assert pc.command("shutter close") == "SHUTTER CLOSED"
    assert not pc.connected


def test_errors_leave_the_link_usable(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    with CCDPC(sim.hostname) as pc:
        with pytest.raises(CommandError, match=r"^unknown command foo$"):
            pc.command("foo bar")
        with pytest.raises(CommandError, match=r"^bad argument"):
            pc.command("EXPOSE -1")
        with pytest.raises(CommandError, match=r"^bad argument"):
            pc.command("EXPOSE 1 3")
        with pytest.raises(CommandError, match=r"^no frame$"):
            pc.command("READ")
        assert pc.command("STATUS").startswith("IDLE")


def test_busy_while_exposing_then_abort(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    with CCDPC(sim.hostname) as pc:
        assert pc.command("EXPOSE 60 2") == "EXPOSING 60.000 2"
        with pytest.raises(CommandError, match="exposing") as info:
            pc.command("READ")
        assert info.value.busy
        assert pc.command("STATUS").startswith("EXPOSING ")
        assert pc.command("ABORT") == "ABORTED"
        assert pc.command("STATUS") == "IDLE frames=0"


def test_acquire_gives_the_simulators_frame(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, seed=5)
    with CCDPC(sim.hostname) as pc:
        detector = Detector(pc)
        frames = [detector.acquire(0.01, binning) for binning in (2, 1, 2)]
    for number, (frame, binning) in enumerate(zip(frames, (2, 1, 2), strict=True), start=1):
        width, height = 1242 // binning, 1152 // binning
        assert (frame.width, frame.height, frame.binning) == (width, height, binning)
        assert isinstance(frame.pixels, numpy.ndarray) and frame.pixels.shape == (height, width)
        expected = synthetic_frame(width, height, 5, number)
        assert hashlib.sha256(frame.tobytes()).digest() == hashlib.sha256(expected).digest()


def test_detector_status_temperature_and_wait(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    with CCDPC(sim.hostname) as pc:
        detector = Detector(pc)
        assert detector.ident().model == "KAPPACCD-SIM"
        assert detector.status().state is DetectorState.IDLE
        assert -70 < detector.temperature() < -50
        detector.expose(0.2)
        seen: list[DetectorState] = []
        status = detector.wait(5, on_status=lambda s: seen.append(s.state))
        assert status.state is DetectorState.IDLE and status.details == "frames=1"
        assert DetectorState.EXPOSING in seen
        detector.expose(30)
        with pytest.raises(TimeoutError, match="still EXPOSING"):
            detector.wait(0.1)
        detector.abort()
        assert detector.status().state is DetectorState.IDLE


def test_events_arrive_in_order(start_sim: StartSim) -> None:
    for protocol in (2, 3):
        sim = start_sim(protocol)
        with CCDPC(sim.hostname) as pc:
            pc.command("EXPOSE 0 2")
            texts = []
            while "STATE IDLE" not in texts:
                message = pc.receive(5)
                assert isinstance(message, Event)
                texts.append(message.text)
            assert texts == ["STATE EXPOSING", "STATE READING", "FRAME 1 621 576", "STATE IDLE"]


def test_read_frame_into_a_lent_buffer(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, seed=3)
    binned = synthetic_frame(621, 576, 3, 1)
    with CCDPC(sim.hostname) as pc:
        Detector(pc).acquire(0, 2)
        lent = bytearray(b"\xaa" * len(binned))
        frame = pc.read_frame(into=lent)
        assert frame.pixels is lent and lent == binned
        again = Detector(pc).read_frame(into=lent)  # the same frame, into the same buffer
        assert numpy.shares_memory(again.pixels, numpy.frombuffer(lent, numpy.uint8))
        assert again.tobytes() == binned
        wrong = bytearray(b"\xaa" * (len(binned) + 2))  # not the frame's size: not used
        frame = pc.read_frame(into=wrong)
        assert frame.pixels is not wrong and frame.pixels == binned
        assert wrong == b"\xaa" * len(wrong)
        assert pc.command("STATUS") == "IDLE frames=1"  # the link is in step


def test_read_frame_lends_its_buffer_to_its_own_frame_only(start_sim: StartSim) -> None:
    """Data of an earlier `send` that comes before READ's reply is not received into `into`."""
    for protocol in (2, 3):  # generation 1 has no sequence numbers to tell the replies apart
        sim = start_sim(protocol, seed=4)
        with CCDPC(sim.hostname) as pc:
            Detector(pc).acquire(0, 2)
            while pc.pending:
                pc.receive(0)
            seq = pc.send(b"READ")
            lent = bytearray(621 * 576 * 2)
            frame = pc.read_frame(into=lent)
            assert frame.pixels is lent and lent == synthetic_frame(621, 576, 4, 1)
            assert pc.receive(5) == Reply("FRAME 621 576", Status.OK, seq)
            earlier = pc.receive(5)
            assert isinstance(earlier, Data) and earlier.seq == seq
            assert earlier.payload is not lent and earlier.payload == lent


def test_send_and_receive_a_frame_raw(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    with CCDPC(sim.hostname) as pc:
        Detector(pc).acquire(0, 2)
        while pc.pending:
            pc.receive(0)
        seq = pc.send(b"READ")
        reply = pc.receive(5)
        assert reply == Reply("FRAME 621 576", Status.OK, seq)
        data = pc.receive(5)
        assert isinstance(data, Data) and len(data.payload) == 621 * 576 * 2


def test_debugging_traces_to_a_file(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    out = io.StringIO()
    with CCDPC(sim.hostname, out, debug=True) as pc:
        assert isinstance(pc, ccdpc.DebuggingCCDPC) and isinstance(pc, CLASSES[protocol])
        pc.command("TEMP")
        pc.trace = None
        pc.command("TEMP")
    lines = out.getvalue().splitlines()
    sent = [line for line in lines if " > " in line]
    assert any("54 45 4d 50" in line for line in sent)  # TEMP
    assert len([line for line in sent if "54 45 4d 50" in line]) == 1  # tracing was switched off


def test_second_client_is_refused(
    start_sim: StartSim, protocol: int, fault_matrix: FaultMatrix
) -> None:
    sim = start_sim(protocol)
    with CCDPC(sim.hostname) as first, fault_matrix.case("second client", protocol) as case:
        if protocol == 3:
            with case.timed(5), pytest.raises(ccdpc.SessionLost) as lost:
                CCDPC(sim.hostname)
            failure: BaseException = lost.value
        else:
            second = CCDPC(sim.hostname)
            with case.timed(5), pytest.raises((CommandError, ccdpc.error)) as refused:
                second.command("IDENT")
            failure = refused.value
            second.close()
        case.raised(failure)
        assert "another client" in str(failure)
        with case.recovery():
            assert first.command("STATUS").startswith("IDLE")


def test_two_threads_share_one_connection(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    failures: list[BaseException] = []
    with CCDPC(sim.hostname) as pc:

        def hammer() -> None:
            try:
                for _ in range(100):
                    assert pc.command("STATUS").startswith("IDLE")
                    assert float(pc.command("TEMP")) < 0
            except BaseException as exc:  # re-raised below, in the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not failures


def test_gen3_close_ends_the_session(start_sim: StartSim) -> None:
    sim = start_sim(3)
    pc = CCDPC(sim.hostname)
    assert isinstance(pc, ccdpc.CCDPC3) and pc.session_id != 0
    pc.close()
    with pytest.raises(ccdpc.error, match="is closed"):
        pc.command("STATUS")
    with CCDPC(sim.hostname) as again:  # the slot is free at once
        assert again.command("STATUS").startswith("IDLE")


def test_gen3_idle_link_is_kept_alive_by_pings(start_sim: StartSim) -> None:
    sim = start_sim(3)
    with CCDPC(sim.hostname) as pc:
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.ping_interval = 0.05
        start = time.monotonic()
        with pytest.raises(ccdpc.timeout, match="select interrupted"):
            pc.receive(0.3)
        assert time.monotonic() - start < 2
        assert pc.connected
        assert pc.counters.packets_sent >= 3  # OPEN, and pings
        assert pc.command("STATUS").startswith("IDLE")


def test_gen3_polling_keeps_the_session_alive(start_sim: StartSim) -> None:
    sim = start_sim(3)
    sim.idle_timeout = 0.6
    with CCDPC(sim.hostname) as pc:
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.ping_interval = 0.2
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            with pytest.raises(ccdpc.timeout):
                pc.receive(0.05)
        assert pc.counters.reconnects == 0
        assert pc.connected


def test_gen3_unanswered_ping_means_a_dead_link(start_sim: StartSim) -> None:
    sim = start_sim(3)
    with CCDPC(sim.hostname, packettimeout=0.3) as pc:
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.ping_interval = 0.1
        sim.set_faults(["stall-first"])
        pc.send(b"STATUS")  # from now on the server sends nothing, not even PONG
        start = time.monotonic()
        while pc.connected and time.monotonic() - start < 2:
            with pytest.raises(ccdpc.timeout) as info:
                pc.receive(0.05)
        assert str(info.value) == "No answer to a ping within 0.3 s"
        assert time.monotonic() - start < 2
        assert not pc.connected
        sim.set_faults([])
        assert pc.receive(5) == Reply("IDLE frames=0", Status.OK, 1)  # resumed, nothing lost


def test_gen3_receive_on_a_dropped_link_resumes(start_sim: StartSim) -> None:
    sim = start_sim(3)
    with CCDPC(sim.hostname) as pc:
        assert isinstance(pc, ccdpc.CCDPC3)
        sim.disconnect_clients()  # the driver does not know yet
        seq = pc.send(b"TEMP")  # kept by the session; sent again after the resume
        message = pc.receive(0.05)  # the resume is not cut short by the short poll
        assert isinstance(message, Reply) and message.seq == seq
        assert pc.counters.reconnects == 1


def test_gen3_explicit_resume(start_sim: StartSim) -> None:
    sim = start_sim(3)
    with CCDPC(sim.hostname, replytimeout=0.3, packettimeout=0.3) as pc:
        assert isinstance(pc, ccdpc.CCDPC3)
        pc.resume()  # connected: nothing to do
        assert pc.counters.reconnects == 0
        sim.set_faults(["stall-mid"])
        with pytest.raises(ccdpc.timeout):
            pc.command("TEMP")
        assert not pc.connected
        sim.set_faults([])
        pc.resume(2)
        assert pc.connected and pc.counters.reconnects == 1
        late = pc.receive(1)  # the reply that stalled, sent again whole
        assert isinstance(late, Reply) and late.text.startswith("-")


def test_gen3_close_does_not_wait_for_a_hung_peer(start_sim: StartSim) -> None:
    sim = start_sim(3)
    pc = CCDPC(sim.hostname, packettimeout=5)
    sim.set_faults(["stall-first"])
    start = time.monotonic()
    pc.close(timeout=0.1)
    assert time.monotonic() - start < 1
    assert not pc.connected


def test_trace_sees_every_packet_from_the_first(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    packets: list[tuple[str, bytes]] = []
    with CCDPC(sim.hostname, trace=lambda d, b: packets.append((d, bytes(b)))) as pc:
        pc.command("TEMP")
    if protocol == 3:
        assert packets[0] == (">", ccdpc.gen3.encode_frame(ccdpc.gen3.Type.OPEN))
        assert packets[1][1][:3] == b"C3\x02"  # OPENED, whole
    assert any(d == ">" and b"TEMP" in p for d, p in packets)
    assert any(d == "<" and b"-60." in p for d, p in packets)


def test_fileno_signals_input_for_select(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    pc = CCDPC(sim.hostname)
    assert select.select([pc], [], [], 0.05)[0] == []
    pc.send(b"TEMP")
    assert select.select([pc], [], [], 5)[0] == [pc]
    assert isinstance(pc.receive(1), Reply)
    pc.close()
    assert pc.fileno() == -1


def test_abort_during_readout(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol)
    with CCDPC(sim.hostname) as pc:
        detector = Detector(pc)
        detector.expose(0)  # straight to the readout, which takes the PC 0.1 s
        status = detector.status()
        assert status.state is DetectorState.READING, status
        detector.abort()
        assert detector.status().details == "frames=0"  # no frame from an aborted readout
        frame = detector.acquire(0, 2)  # and the link goes on working
        assert (frame.width, frame.height) == (621, 576)
