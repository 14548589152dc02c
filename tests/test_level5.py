"""The generation 3 session rules, client side, without any socket."""

from __future__ import annotations

import pytest

from ccdpc import SessionLost, gen3, protocolerror
from ccdpc.level5 import ACK_EVERY, ClientSession
from ccdpc.messages import Data, Event, Reply, Status

T = gen3.Type
SID = 0x1234


def frame(type_: T, payload: bytes = b"", **fields: int) -> gen3.Frame3:
    decoder = gen3.FrameDecoder()
    decoder.feed(gen3.encode_frame(type_, payload, **fields))
    result = decoder.next_event()
    assert result is not None
    return result


def frame_from_bytes(data: bytes) -> gen3.Frame3:
    decoder = gen3.FrameDecoder()
    decoder.feed(data)
    result = decoder.next_event()
    assert result is not None and decoder.next_event() is None
    return result


def opened(session: ClientSession, ack: int = 0) -> list[bytes]:
    return session.on_opened(frame(T.OPENED, b"new", session=SID, ack=ack))


def test_new_session() -> None:
    session = ClientSession()
    assert frame_from_bytes(session.open_frame()).session == 0
    assert opened(session) == []
    assert session.session == SID


def test_commands_are_numbered_and_carry_the_ack() -> None:
    session = ClientSession()
    opened(session)
    seq1, raw1 = session.command_frame(b"STATUS")
    seq2, _raw2 = session.command_frame(b"TEMP")
    assert (seq1, seq2) == (1, 2)
    first = frame_from_bytes(raw1)
    assert (first.type, first.session, first.seq, first.ack) == (T.COMMAND, SID, 1, 0)
    assert session.unacknowledged == 2


def test_replies_data_events_become_messages_numbered_by_command() -> None:
    session = ClientSession()
    opened(session)
    session.command_frame(b"READ")
    reply, _ = session.on_frame(frame(T.REPLY, b"FRAME 1 1", session=SID, seq=1, ack=1))
    event, _ = session.on_frame(frame(T.EVENT, b"STATE IDLE", session=SID, seq=2, ack=1))
    data, ack = session.on_frame(frame(T.DATA, b"\x01\x00", session=SID, seq=3, ack=1))
    assert reply == Reply("FRAME 1 1", Status.OK, 1)
    assert event == Event("STATE IDLE", 2)
    assert data == Data(bytearray(b"\x01\x00"), 1)
    assert ack is not None and frame_from_bytes(ack).type is T.ACK
    assert frame_from_bytes(ack).ack == 3
    assert session.unacknowledged == 0


def test_error_status_from_flags() -> None:
    session = ClientSession()
    opened(session)
    session.command_frame(b"READ")
    flags = gen3.status_flags(Status.BUSY)
    reply, _ = session.on_frame(frame(T.REPLY, b"exposing", session=SID, seq=1, flags=flags))
    assert reply == Reply("exposing", Status.BUSY, 1)


def test_ack_after_every_eighth_unacknowledged_frame() -> None:
    session = ClientSession()
    opened(session)
    acks = []
    for seq in range(1, 2 * ACK_EVERY + 1):
        _, answer = session.on_frame(frame(T.EVENT, b"x", session=SID, seq=seq))
        acks.append(answer is not None)
    assert acks.count(True) == 2
    assert acks[ACK_EVERY - 1] and acks[2 * ACK_EVERY - 1]


def test_duplicates_are_dropped_gaps_are_errors() -> None:
    session = ClientSession()
    opened(session)
    assert session.on_frame(frame(T.EVENT, b"a", session=SID, seq=1))[0] == Event("a", 1)
    assert session.on_frame(frame(T.EVENT, b"a", session=SID, seq=1, flags=1)) == (None, None)
    with pytest.raises(protocolerror, match="Gap"):
        session.on_frame(frame(T.EVENT, b"c", session=SID, seq=3))


def test_resume_sends_again_what_the_server_did_not_get() -> None:
    session = ClientSession()
    opened(session)
    for text in (b"A", b"B", b"C"):
        session.command_frame(text)
    session.on_frame(frame(T.REPLY, b"ok", session=SID, seq=1, ack=1))
    resume = frame_from_bytes(session.open_frame())
    assert (resume.session, resume.ack) == (SID, 1)
    again = [frame_from_bytes(raw) for raw in opened(session, ack=2)]
    assert [(f.seq, bytes(f.payload), f.flags & gen3.RETRANSMIT) for f in again] == [(3, b"C", 1)]


def test_ping_from_the_server_is_answered() -> None:
    session = ClientSession()
    opened(session)
    message, answer = session.on_frame(frame(T.PING, b"abc", session=SID))
    assert message is None and answer is not None
    pong = frame_from_bytes(answer)
    assert (pong.type, bytes(pong.payload)) == (T.PONG, b"abc")


def test_close_from_server_and_unknown_session() -> None:
    session = ClientSession()
    opened(session)
    with pytest.raises(SessionLost, match="closed session"):
        session.on_frame(frame(T.CLOSE, b"shutdown", session=SID))
    with pytest.raises(SessionLost, match="session 4660 lost: unknown session 4660"):
        session.on_opened(frame(T.CLOSE, b"unknown session 4660"))


def test_refusal_of_a_second_client() -> None:
    with pytest.raises(SessionLost, match="refused the session: busy"):
        ClientSession().on_opened(frame(T.CLOSE, b"busy: another client is connected"))


def test_frames_of_another_session_or_kind_are_protocol_errors() -> None:
    session = ClientSession()
    opened(session)
    with pytest.raises(protocolerror):
        session.on_frame(frame(T.EVENT, b"x", session=SID + 1, seq=1))
    with pytest.raises(protocolerror):
        session.on_frame(frame(T.COMMAND, b"x", session=SID, seq=1))
    with pytest.raises(protocolerror):
        ClientSession().on_opened(frame(T.REPLY, b"x", session=SID, seq=1))
    resumed = ClientSession()
    opened(resumed)
    with pytest.raises(protocolerror):
        resumed.on_opened(frame(T.OPENED, b"resumed", session=SID + 1))
