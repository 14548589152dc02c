"""The link alone, against the simulator: no tango, real TCP on port 0, every wait bounded."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ccdpc
from ccdpc.sim import Simulator, synthetic_frame
from tango_server.link import Link, worker
from tango_server.link.acquisition import Kind
from tango_server.link.books import BUSY_AFTER, COUNTDOWN_STEP, TEMPERATURE_SHOWN
from tango_server.link.clients import Caller
from tango_server.link.settings import Settings
from tango_server.link.state import LinkBusy, LinkState, NotConnected, WaitTimeout

from ..conftest import wait_until

StartSim = Callable[..., Simulator]


@pytest.fixture
def make_link() -> Iterator[Callable[..., Link]]:
    """``make_link(sim, **settings)``: a started link (AutoConnect false unless given)."""
    links: list[Link] = []

    def make(sim: Simulator, **options: Any) -> Link:
        options.setdefault("auto_connect", False)
        link = Link(Settings(sim.host, sim.port, **options))
        links.append(link)
        link.start()
        return link

    yield make
    for link in links:
        link.shutdown()


def state(link: Link) -> LinkState:
    return link.snapshot().state


def test_talks_every_generation(
    start_sim: StartSim, make_link: Callable[..., Link], protocol: int
) -> None:
    sim = start_sim(protocol)
    link = make_link(sim)
    assert state(link) is LinkState.DISCONNECTED
    link.connect(2)
    snap = link.snapshot()
    assert (snap.state, snap.protocol_version, snap.server_version) == (
        LinkState.CONNECTED,
        protocol,
        f"{protocol}.0",
    )
    assert snap.protocol_class == ("StandardCCDPC", "NewCCDPC", "CCDPC3")[protocol - 1]
    assert link.command(b"IDENT", 2).text.startswith("KAPPACCD-SIM ")
    link.send(b"TEMP", 2)
    reply = link.receive(2)
    assert isinstance(reply, ccdpc.Reply)
    assert float(reply.text) < 0
    snap = link.snapshot()
    assert snap.counters.packets_sent >= 2
    assert snap.counters.packets_received >= 2
    assert snap.pending == 0


def test_error_reply_raises_and_is_an_alarm(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    link = make_link(start_sim(2))
    link.connect(2)
    with pytest.raises(ccdpc.CommandError, match="unknown command FROB"):
        link.command(b"FROB", 2)
    snap = link.snapshot()
    assert (snap.state, snap.errors) == (LinkState.CONNECTED, 1)
    assert "FROB" in snap.alarm
    assert "FROB" in snap.last_error


def test_receive_timeout_loses_nothing(
    start_sim: StartSim, make_link: Callable[..., Link], protocol: int
) -> None:
    sim = start_sim(protocol, faults=["trickle"], trickle_delay=0.002)
    link = make_link(sim)
    link.connect(2)
    link.send(b"IDENT", 2)
    with pytest.raises(WaitTimeout):
        link.receive(0.01)  # the reply is on its way, byte by byte
    reply = link.receive(2)
    assert isinstance(reply, ccdpc.Reply)
    assert reply.text.startswith("KAPPACCD-SIM ")
    sim.set_faults([])
    assert link.command(b"TEMP", 2).text


def test_late_reply_goes_to_the_inbox(start_sim: StartSim, make_link: Callable[..., Link]) -> None:
    sim = start_sim(2, faults=["trickle"], trickle_delay=0.01)  # 37 bytes: 0.37 s
    link = make_link(sim)
    link.connect(2)
    with pytest.raises(WaitTimeout, match="queued for Receive"):
        link.command(b"IDENT", 0.15)
    reply = link.receive(2)
    assert isinstance(reply, ccdpc.Reply)
    assert reply.text.startswith("KAPPACCD-SIM ")


def test_each_caller_receives_its_own_replies(
    start_sim: StartSim, make_link: Callable[..., Link], protocol: int
) -> None:
    link = make_link(start_sim(protocol))
    link.connect(2)
    one, two = Caller("h pid 1", "h", 1), Caller("h pid 2", "h", 2)
    link.send(b"IDENT", 2, one)
    link.send(b"TEMP", 2, two)
    link.send(b"STATUS", 2, one)
    assert float(link.receive(2, two).text) < 0
    assert link.receive(2, one).text.startswith("KAPPACCD-SIM ")
    assert link.receive(2, one).text.startswith("IDLE")
    assert (link.pending(one), link.pending(two), link.snapshot().pending) == (0, 0, 0)
    with pytest.raises(WaitTimeout):
        link.receive(0, two)
    assert [line.split(":")[0] for line in link.receivers()] == [one.key, two.key]
    assert link.command(b"IDENT", 2, two).text.startswith("KAPPACCD-SIM ")  # as before


def test_not_connected(start_sim: StartSim, make_link: Callable[..., Link]) -> None:
    link = make_link(start_sim(2))
    for call in (lambda: link.send(b"IDENT", 1), lambda: link.command(b"IDENT", 1)):
        with pytest.raises(NotConnected, match="use Connect"):
            call()
    with pytest.raises(NotConnected):
        link.receive(1)
    with pytest.raises(ValueError, match="Empty"):
        link.send(b"", 1)


def test_messages_received_before_a_loss_are_kept(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    sim = start_sim(2)
    link = make_link(sim)
    link.connect(2)
    link.send(b"IDENT", 2)
    wait_until(lambda: link.snapshot().pending == 1)
    sim.stop()
    wait_until(lambda: state(link) is LinkState.FAULT)
    assert isinstance(link.receive(0), ccdpc.Reply)
    with pytest.raises(NotConnected):
        link.receive(0)


def test_connect_failure_and_backoff(start_sim: StartSim, make_link: Callable[..., Link]) -> None:
    sim = start_sim(2)
    sim.stop()  # a free port, for now
    link = make_link(sim, auto_connect=True)
    wait_until(lambda: link.snapshot().errors >= 2, what="two attempts")
    snap = link.snapshot()
    assert snap.state in (LinkState.FAULT, LinkState.CONNECTING)
    assert "refused" in snap.last_error
    with pytest.raises(ccdpc.error):
        link.connect(2)  # an attempt now, not at the next back-off
    sim.start()
    wait_until(lambda: state(link) is LinkState.CONNECTED, 10, "connected by AutoConnect")
    assert link.snapshot().counters.reconnects == 0  # the first connection


def test_lost_link_reconnects_and_counters_add_up(
    start_sim: StartSim, make_link: Callable[..., Link], protocol: int
) -> None:
    sim = start_sim(protocol)
    link = make_link(sim, auto_connect=True)
    wait_until(lambda: state(link) is LinkState.CONNECTED)
    link.command(b"IDENT", 2)
    before = link.snapshot().counters
    sim.restart()
    wait_until(lambda: link.snapshot().counters.reconnects >= 1, 10, "reconnected")
    wait_until(lambda: state(link) is LinkState.CONNECTED)
    link.command(b"IDENT", 2)
    after = link.snapshot().counters
    assert after.packets_sent > before.packets_sent
    assert after.bytes_received > before.bytes_received


def test_hung_peer_is_a_fault(start_sim: StartSim, make_link: Callable[..., Link]) -> None:
    link = make_link(start_sim(2, faults=["stall-first"]), first_packet_timeout=0.5)
    link.connect(2)
    link.send(b"IDENT", 1)
    wait_until(lambda: state(link) is LinkState.BUSY, 1)
    assert "awaiting the reply to 'IDENT'" in link.snapshot().text
    with pytest.raises(ccdpc.timeout, match=r"No reply to 'IDENT' within 0\.5 s"):
        link.command(b"TEMP", 2)
    assert state(link) is LinkState.FAULT


def test_hung_reply_on_generation_3_resumes_the_session(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    """Overdue past FirstPacketTimeout: the link drops the socket, keeps the session, resumes;
    the PC gets the command again and answers it, once."""
    sim = start_sim(3)
    link = make_link(sim, first_packet_timeout=0.5)
    link.connect(2)
    session = link.snapshot().session_id
    sim.set_faults(["stall-first"], once=True)
    start = time.monotonic()
    assert link.command(b"IDENT", 2).text.startswith("KAPPACCD-SIM ")
    assert 0.5 < time.monotonic() - start < 2
    snap = link.snapshot()
    assert (snap.session_id, snap.counters.reconnects, snap.state) == (
        session,
        1,
        LinkState.CONNECTED,
    )
    assert "No reply to 'IDENT' within 0.5 s" in snap.last_error
    with pytest.raises(WaitTimeout):
        link.receive(0.2)  # the reply came once


def test_snapshot_says_when_the_clock_alone_changes_it(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    """`changes_at`: the publisher sleeps until then, so at that time the picture must change."""
    link = make_link(start_sim(2, faults=["stall-first"]), first_packet_timeout=5.0)
    link.connect(2)
    assert link.snapshot().changes_at is None  # idle: only an event changes it
    link.send(b"IDENT", 1)  # never answered
    snap = link.snapshot()
    if snap.state is LinkState.CONNECTED:  # else the machine took BUSY_AFTER to get here
        assert snap.changes_at is not None
        assert snap.changes_at <= time.monotonic() + BUSY_AFTER
        wait_until(lambda: time.monotonic() > snap.changes_at, 1)
    snap = link.snapshot()
    assert (snap.state, snap.changes_at) == (LinkState.BUSY, None)


def test_snapshot_changes_when_the_temperature_grows_old(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    link = make_link(start_sim(2))
    link.connect(2)
    before = time.monotonic()
    link.temperature(2)
    snap = link.snapshot()
    assert snap.temperature is not None and snap.changes_at is not None
    assert before + TEMPERATURE_SHOWN <= snap.changes_at <= time.monotonic() + TEMPERATURE_SHOWN


def test_stalled_transfer(
    start_sim: StartSim, make_link: Callable[..., Link], protocol: int
) -> None:
    link = make_link(start_sim(protocol, faults=["stall-mid"]), packet_timeout=1.0)
    link.connect(2)
    with pytest.raises(WaitTimeout, match="No reply to 'IDENT'"):
        link.command(b"IDENT", 0.3)
    assert state(link) is LinkState.BUSY
    start = time.monotonic()
    with pytest.raises(LinkBusy, match="nothing sent"):
        link.send(b"TEMP", 0.3)  # the worker is stuck in the transfer
    assert time.monotonic() - start < 0.5
    if protocol == 3:  # the session is resumed at once; its reply comes again, whole, once
        reply = link.receive(3)
        assert isinstance(reply, ccdpc.Reply) and reply.text.startswith("KAPPACCD-SIM ")
        assert "Incomplete packet received" in link.snapshot().last_error
        assert state(link) is LinkState.CONNECTED
        return
    wait_until(lambda: state(link) is LinkState.FAULT, 2, "FAULT after the packet timeout")
    assert "Incomplete packet received" in link.snapshot().text


def test_disconnect_under_a_stuck_transfer(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    link = make_link(start_sim(2, faults=["stall-mid"]), packet_timeout=5.0)
    link.connect(2)
    link.send(b"IDENT", 1)
    wait_until(lambda: state(link) is LinkState.BUSY, 1)
    start = time.monotonic()
    link.disconnect(0.3)
    wait_until(lambda: state(link) is LinkState.DISCONNECTED, 1)
    assert time.monotonic() - start < 1.0


def test_refused_by_a_busy_pc(
    start_sim: StartSim, make_link: Callable[..., Link], protocol: int
) -> None:
    sim = start_sim(protocol)
    with ccdpc.CCDPC(sim.hostname):
        link = make_link(sim)
        if protocol == 3:
            with pytest.raises(ccdpc.SessionLost):
                link.connect(2)
        else:
            link.connect(2)
        wait_until(lambda: state(link) is LinkState.FAULT)
        assert "another client is connected" in link.snapshot().text


def test_listener_tracing_and_shutdown(start_sim: StartSim) -> None:
    sim = start_sim(3)
    changes = threading.Semaphore(0)
    link = Link(Settings(sim.host, sim.port, debug=True), listener=changes.release)
    link.start()
    try:
        wait_until(lambda: state(link) is LinkState.CONNECTED)
        assert changes.acquire(timeout=1)
        lines = link.trace_lines()
        assert any(" > " in line for line in lines)  # the OPEN, traced by the driver's tracer
        link.tracing = False
        link.command(b"IDENT", 2)
        assert link.trace_lines() == lines
    finally:
        start = time.monotonic()
        link.shutdown()
        assert time.monotonic() - start < 1
    wait_until(lambda: not sim.connected, 2, "the simulator sees the client leave")


def test_gen3_lost_link_keeps_its_session(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    sim = start_sim(3)
    link = make_link(sim, connect_timeout=0.5)
    link.connect(2)
    session = link.snapshot().session_id
    link.send(b"IDENT", 2)  # its reply will be lost with the link, and kept by the session
    sim.set_faults(["silent"])  # new connections get no greeting: the resumes fail
    sim.disconnect_clients()
    wait_until(lambda: state(link) is LinkState.FAULT, 5, "FAULT while the link is down")
    snap = link.snapshot()
    assert f"session {session} kept. Resuming it: attempt " in snap.text
    # Status counts down to the next attempt: the snapshot changes with the clock.
    wait_until(lambda: link.snapshot().changes_at is not None, 3, "a countdown in Status")
    changes_at = link.snapshot().changes_at
    assert changes_at is not None and changes_at <= time.monotonic() + COUNTDOWN_STEP
    with pytest.raises(NotConnected, match="Resuming"):
        link.command(b"TEMP", 1)
    sim.set_faults([])
    link.connect(2)  # resumes now, not at the next back-off
    snap = link.snapshot()
    assert (snap.state, snap.session_id, snap.counters.reconnects) == (
        LinkState.CONNECTED,
        session,
        1,
    )
    reply = link.receive(2)
    assert isinstance(reply, ccdpc.Reply)
    assert reply.text.startswith("KAPPACCD-SIM ")


def test_acquire_through_the_link(
    start_sim: StartSim, make_link: Callable[..., Link], protocol: int
) -> None:
    sim = start_sim(protocol)
    link = make_link(sim)
    link.connect(2)
    assert link.detector_state(2) is ccdpc.DetectorState.IDLE
    link.begin(Kind.ACQUIRE, 0.0, 2, 2)
    wait_until(lambda: link.snapshot().detector.frame_number == 1, 5, "the frame")
    frame = link.frame()
    assert frame is not None
    assert (frame.width, frame.height, frame.binning) == (621, 576, 2)
    assert frame.tobytes() == synthetic_frame(621, 576, 0, 1)
    assert -100 < link.temperature(2) < 0


def test_read_frame_without_one_is_refused(
    start_sim: StartSim, make_link: Callable[..., Link]
) -> None:
    link = make_link(start_sim(2))
    link.connect(2)
    with pytest.raises(ccdpc.CommandError, match="no frame"):
        link.begin(Kind.READ, 0.0, 1, 2)
    assert link.snapshot().state is LinkState.CONNECTED
    link.begin(Kind.EXPOSE, 0.0, 1, 2)  # the failed one does not block the next


def test_the_worker_sleeps_until_the_wire_or_a_caller_wakes_it(
    start_sim: StartSim, protocol: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No polling: with the clock's calls on a quiet link put off for a minute, the bell takes
    every job and the socket every message at once, and a quiet link costs no call at all."""
    monkeypatch.setattr(worker, "IDLE", 60.0)
    calls: list[float | None] = []  # the worker's receives

    def counting(*args: Any, **options: Any) -> ccdpc.Connection:
        conn = ccdpc.CCDPC(*args, **options)
        receive = conn.receive

        def counted(timeout: float | None = None) -> ccdpc.Message:
            calls.append(timeout)
            return receive(timeout)

        monkeypatch.setattr(conn, "receive", counted)
        return conn

    sim = start_sim(protocol)
    link = Link(Settings(sim.host, sim.port, auto_connect=False), factory=counting)
    link.start()
    try:
        link.connect(2)
        assert link.command(b"IDENT", 2).text.startswith("KAPPACCD-SIM ")
        link.send(b"EXPOSE 0.05 2", 2)  # the reply, then events, come while the worker sleeps
        reply = link.receive(2)
        assert isinstance(reply, ccdpc.Reply)
        texts = [reply.text]
        while protocol > 1 and texts[-1] != "STATE IDLE":  # generation 1 has no events
            message = link.receive(2)
            assert isinstance(message, ccdpc.Event)
            texts.append(message.text)
        assert texts[0] == "EXPOSING 0.050 2"
        # The worker asks STATUS while the detector is busy: at the acquisition's pace, not ours.
        wait_until(lambda: link.detector_state(2) is ccdpc.DetectorState.IDLE)
        link.command(b"IDENT", 2)  # its reply comes after that of any STATUS still out
        quiet = len(calls)
        with pytest.raises(WaitTimeout):
            link.receive(0.3)
        assert len(calls) == quiet
    finally:
        link.shutdown()  # the bell wakes the worker for it too: it has closed the connection
    assert not link.snapshot().protocol_version


def test_no_descriptor_outlives_the_link(start_sim: StartSim, protocol: int) -> None:
    """The connection's socket and the worker's bell are closed when the link stops, after a
    reconnection too; a link never started leaves nothing either."""
    sim = start_sim(protocol)
    before = open_descriptors()
    link = Link(Settings(sim.host, sim.port, auto_connect=False))
    link.start()
    link.connect(2)
    link.reconnect(2)
    link.command(b"IDENT", 2)
    link.shutdown()
    Link(Settings(sim.host, sim.port)).shutdown()
    wait_until(lambda: open_descriptors() == before, 2, "the simulator closes its side too")


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))
