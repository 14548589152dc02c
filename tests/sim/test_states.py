"""The exposure cycle seen through the server: STATUS polling, asynchronous events, no client."""

from __future__ import annotations

import re
import time

import pytest

from ccdpc import gen2, gen3
from ccdpc.sim import Simulator

from .conftest import Connect, StartSim
from .rawclient import wait_for_status, wait_until


def test_state_progression_by_polling_status(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    assert client.command("STATUS").text == "IDLE frames=0"
    assert client.command("EXPOSE 0.05").text == "EXPOSING 0.050 1"
    seen = wait_for_status(client, "IDLE")
    states = [text.split()[0] for text in seen]
    assert [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s] == [
        "EXPOSING",
        "READING",
        "IDLE",
    ]
    for text in seen:
        assert re.fullmatch(
            r"EXPOSING 0\.0[0-5][0-9]/0\.050 s|READING [0-9]+/1152 rows|IDLE frames=1", text
        ), text
    assert sim.detector.frames_taken == 1


@pytest.mark.parametrize("protocol", [2, 3])
def test_events_arrive_unasked_in_order(
    start_sim: StartSim, connect: Connect, protocol: int
) -> None:
    client = connect(start_sim(protocol))
    answer = client.command("EXPOSE 0.05 2")
    assert answer.text == "EXPOSING 0.050 2"
    assert answer.events == [], "the reply comes before the events it causes"
    start = time.monotonic()
    assert client.events(4) == ["STATE EXPOSING", "STATE READING", "FRAME 1 621 576", "STATE IDLE"]
    assert time.monotonic() - start >= 0.05
    assert client.command("STATUS").text == "IDLE frames=1"


def test_gen2_event_sequence_numbers_count_per_connection(
    start_sim: StartSim, connect: Connect
) -> None:
    client = connect(start_sim(2))
    client.command("EXPOSE 0 2")
    packets = [client.next_message() for _ in range(4)]
    assert [(p.type, p.status, p.seq) for p in packets] == [
        (gen2.Type.EVENT, 0, n) for n in (1, 2, 3, 4)
    ]


def test_gen3_events_are_reliable_frames_after_the_reply(
    start_sim: StartSim, connect: Connect
) -> None:
    client = connect(start_sim(3))
    client.command("EXPOSE 0")
    frames = [client.next_message() for _ in range(4)]
    assert [(f.type, f.seq, f.ack) for f in frames] == [
        (gen3.Type.EVENT, n, 1) for n in (2, 3, 4, 5)
    ]


def test_gen1_has_no_events(start_sim: StartSim, connect: Connect) -> None:
    client = connect(start_sim(1))
    client.command("EXPOSE 0 2")
    wait_until(lambda: client.command("STATUS").text == "IDLE frames=1", what="frame ready")
    client.expect_silence(0.1)


def test_the_detector_runs_without_a_client(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    client.command("EXPOSE 0.05 2")
    client.close()
    wait_until(lambda: sim.detector.state == "IDLE", what="IDLE without a client")
    assert sim.detector.frames_taken == 1
    assert connect(sim).command("STATUS").text == "IDLE frames=1"


def test_abort_stops_an_exposure(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    client.command("EXPOSE 0.2")
    answer = client.command("ABORT")
    assert answer.text == "ABORTED"
    assert sim.detector.state == "IDLE"
    if sim.protocol > 1:
        # STATE EXPOSING followed the EXPOSE reply, so it came before the ABORT reply.
        assert [*answer.events, *client.events(1)] == ["STATE EXPOSING", "STATE IDLE"]
    assert sim.detector.next_change() is None, "nothing left to happen"
    assert client.command("STATUS").text == "IDLE frames=0"
    assert client.command("READ").text == "no frame"


def test_frame_numbers_count_per_run(start_sim: StartSim, connect: Connect) -> None:
    sim = start_sim(2)
    client = connect(sim)
    for number in (1, 2):
        client.command("EXPOSE 0 2")
        assert client.events(4)[2] == f"FRAME {number} 621 576"
    client.close()
    sim.restart()
    client = connect(sim)
    client.command("EXPOSE 0 2")
    assert client.events(4)[2] == "FRAME 1 621 576"
