"""Generation 3 sessions on the server: resume, retransmission, duplicates, ping, close, expiry."""

from __future__ import annotations

import time

import pytest

from ccdpc.gen3 import RETRANSMIT, Type, encode_frame
from ccdpc.sim import Simulator

from .conftest import Connect, StartSim
from .rawclient import RawClient, wait_until


@pytest.fixture
def sim3(start_sim: StartSim) -> Simulator:
    return start_sim(3)


def read_frames(client: RawClient, count: int) -> list[tuple[Type, int, int, int, bytes]]:
    """(type, flags, seq, ack, payload) of the next frames, duplicates included."""
    frames = []
    for _ in range(count):
        while (frame := client._decoder.next_event()) is None:
            chunk = client.recv_some()
            assert chunk, "EOF"
            client._decoder.feed(chunk)
        frames.append((frame.type, frame.flags, frame.seq, frame.ack, bytes(frame.payload)))
    return frames


def test_resume_resends_what_was_not_acknowledged(sim3: Simulator, connect: Connect) -> None:
    first = connect(sim3)
    first.send_command("STATUS")  # these commands acknowledge nothing (ack 0)
    first.send_command("SHUTTER OPEN")
    assert [f[2] for f in read_frames(first, 2)] == [1, 2]
    first.close()

    second = connect(sim3, open_session=False)
    second.send_raw(encode_frame(Type.OPEN, session=first.session, ack=1))
    assert read_frames(second, 2) == [
        (Type.OPENED, 0, 0, 2, b"resumed"),
        (Type.REPLY, RETRANSMIT, 2, 2, b"SHUTTER OPEN"),
    ]
    second.session, second.received, second.seq = first.session, 2, 2
    answer = second.command("STATUS")
    assert (answer.seq, answer.text) == (3, "IDLE frames=0")


def test_acknowledged_frames_are_not_resent(sim3: Simulator, connect: Connect) -> None:
    first = connect(sim3)
    first.command("IDENT")
    first.send_raw(first.frame(Type.ACK))
    first.close()
    second = connect(sim3, session=first.session, ack=1)
    assert second.opened is not None and bytes(second.opened.payload) == b"resumed"
    second.expect_silence(0.2)


def test_a_frame_and_its_data_survive_a_lost_connection(sim3: Simulator, connect: Connect) -> None:
    first = connect(sim3)
    first.command("EXPOSE 0 2")
    assert first.events(4)[2] == "FRAME 1 621 576"
    first.send_command("READ")
    reply, data = read_frames(first, 2)
    assert (reply[0], reply[4], data[0], len(data[4])) == (
        Type.REPLY,
        b"FRAME 621 576",
        Type.DATA,
        621 * 576 * 2,
    )
    first.close()  # without acknowledging them

    second = connect(sim3, open_session=False)
    second.send_raw(encode_frame(Type.OPEN, session=first.session, ack=5))
    opened, reply2, data2 = read_frames(second, 3)
    assert opened[4] == b"resumed"
    assert reply2 == (Type.REPLY, RETRANSMIT, 6, 2, b"FRAME 621 576")
    assert data2[:3] == (Type.DATA, RETRANSMIT, 7) and data2[4] == data[4]


def test_events_made_while_detached_come_with_the_resume(sim3: Simulator, connect: Connect) -> None:
    first = connect(sim3)
    first.command("EXPOSE 0.05 2")
    first.close()
    wait_until(lambda: sim3.detector.frames_taken == 1, what="frame taken")
    second = connect(sim3, session=first.session, ack=first.received)
    assert second.events(4) == ["STATE EXPOSING", "STATE READING", "FRAME 1 621 576", "STATE IDLE"]


def test_duplicate_commands_are_not_executed_again(sim3: Simulator, connect: Connect) -> None:
    client = connect(sim3)
    assert client.command("EXPOSE 10").text == "EXPOSING 10.000 1"
    client.send_command("EXPOSE 10", seq=1)  # a resend: executing it would answer "busy"
    client.send_raw(client.frame(Type.COMMAND, b"EXPOSE 10", seq=1, flags=RETRANSMIT))
    answer = client.command("STATUS")
    assert client.seq == 2
    assert answer.seq == 3, "frames: reply 1, event 2, this reply 3; nothing for the duplicates"
    assert answer.text.startswith("EXPOSING ")
    assert answer.events == ["STATE EXPOSING"]
    client.command("ABORT")


def test_a_gap_in_commands_ends_the_session(sim3: Simulator, connect: Connect) -> None:
    client = connect(sim3)
    client.send_command("STATUS", seq=5)
    assert read_frames(client, 1) == [(Type.CLOSE, 0, 0, 0, b"protocol error: command 5 after 0")]
    assert client.read_until_eof() == b""
    again = connect(sim3, session=client.session)
    assert again.opened is not None and again.opened.type is Type.CLOSE


def test_unknown_session_is_refused_with_close(sim3: Simulator, connect: Connect) -> None:
    client = connect(sim3, open_session=False)
    client.send_raw(encode_frame(Type.OPEN, session=12345, ack=3))
    assert client.read_until_eof() == encode_frame(
        Type.CLOSE, b"unknown session 12345", session=12345
    )


def test_ping_is_answered_with_pong(sim3: Simulator, connect: Connect) -> None:
    client = connect(sim3)
    client.command("IDENT")
    client.send_raw(client.frame(Type.PING, b"\x00\xffhello"))
    assert read_frames(client, 1) == [(Type.PONG, 0, 0, 1, b"\x00\xffhello")]


def test_close_ends_the_session(sim3: Simulator, connect: Connect) -> None:
    client = connect(sim3)
    client.command("IDENT")
    client.send_raw(client.frame(Type.CLOSE, b"bye"))
    assert client.read_until_eof() == encode_frame(Type.CLOSE, session=client.session, ack=1)
    again = connect(sim3, session=client.session)
    assert again.opened is not None
    assert bytes(again.opened.payload) == f"unknown session {client.session}".encode()


def test_a_restarted_server_knows_no_session(sim3: Simulator, connect: Connect) -> None:
    client = connect(sim3)
    client.close()
    sim3.restart()
    again = connect(sim3, session=client.session)
    assert again.opened is not None and again.opened.type is Type.CLOSE


def test_idle_connection_is_closed_but_the_session_stays(sim3: Simulator, connect: Connect) -> None:
    sim3.idle_timeout = 0.3
    client = connect(sim3)
    start = time.monotonic()
    assert client.read_until_eof() == b""
    assert 0.25 <= time.monotonic() - start < 2.0
    again = connect(sim3, session=client.session)
    assert again.opened is not None and bytes(again.opened.payload) == b"resumed"


def test_a_session_expires_after_its_lifetime(sim3: Simulator, connect: Connect) -> None:
    sim3.session_timeout = 0.2
    client = connect(sim3)
    client.close()
    wait_until(lambda: not sim3.connected, what="the server noticing the close")
    time.sleep(0.3)  # the lifetime under test, not a synchronisation
    again = connect(sim3, session=client.session)
    assert again.opened is not None and again.opened.type is Type.CLOSE


def test_session_ids_are_nonzero_and_distinct(sim3: Simulator, connect: Connect) -> None:
    ids = set()
    for _ in range(5):
        client = connect(sim3)
        ids.add(client.session)
        client.close()
    assert len(ids) == 5 and 0 not in ids


def test_a_first_frame_other_than_open_is_a_protocol_error(
    sim3: Simulator, connect: Connect
) -> None:
    client = connect(sim3, open_session=False)
    client.send_raw(encode_frame(Type.COMMAND, b"IDENT", seq=1))
    assert client.read_until_eof() == encode_frame(
        Type.CLOSE, b"protocol error: expected OPEN, got COMMAND"
    )


def test_a_bad_crc_from_the_client_ends_the_session(sim3: Simulator, connect: Connect) -> None:
    client = connect(sim3)
    frame = bytearray(client.frame(Type.COMMAND, b"IDENT", seq=1))
    frame[-1] ^= 0x20
    client.send_raw(bytes(frame))
    (close,) = read_frames(client, 1)
    assert close[0] is Type.CLOSE
    assert close[4].startswith(b"protocol error: Bad CRC in COMMAND frame seq 1")
    assert client.read_until_eof() == b""
