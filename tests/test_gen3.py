"""Generation 3 frames: CRC, magic, limits, any chunking."""

from __future__ import annotations

import contextlib
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccdpc import config, gen3, protocolerror
from ccdpc.messages import Status

from .framing_helpers import byte_by_byte, cuts_for, feed_all

T = gen3.Type
FRAMES = st.lists(
    st.tuples(
        st.sampled_from(list(T)),
        st.integers(0, 255),
        st.integers(0, 0xFFFFFFFF),
        st.integers(0, 0xFFFFFFFF),
        st.integers(0, 0xFFFFFFFF),
        st.binary(max_size=200),
    ),
    max_size=8,
)
Item = tuple[T, int, int, int, int, bytes]


def encode(items: list[Item]) -> bytes:
    return b"".join(
        gen3.encode_frame(t, p, session=s, seq=q, ack=a, flags=f) for t, f, s, q, a, p in items
    )


def summary(frames: list[gen3.Frame3]) -> list[Item]:
    return [(f.type, f.flags, f.session, f.seq, f.ack, bytes(f.payload)) for f in frames]


@given(FRAMES, st.data())
def test_round_trip_in_random_chunks(items: list[Item], draw: st.DataObject) -> None:
    data = encode(items)
    assert summary(feed_all(gen3.FrameDecoder(), data, draw.draw(cuts_for(data)))) == items


def test_trickle_byte_by_byte() -> None:
    items: list[Item] = [(T.REPLY, 0, 7, 1, 1, b"FRAME 2 1"), (T.DATA, 0, 7, 2, 1, b"\x01\x02")]
    data = encode(items)
    assert summary(feed_all(gen3.FrameDecoder(), data, byte_by_byte(data))) == items


def test_bad_crc_names_both_values() -> None:
    frame = bytearray(gen3.encode_frame(T.REPLY, b"IDLE", session=1, seq=1))
    frame[-1] ^= 0x01
    with pytest.raises(protocolerror, match="Bad CRC") as info:
        gen3.FrameDecoder().feed(frame)
    assert info.value.partial == bytes(frame[24:])


def test_wrong_magic() -> None:
    frame = b"C4" + gen3.encode_frame(T.PING)[2:]
    with pytest.raises(protocolerror, match="Wrong magic"):
        gen3.FrameDecoder().feed(frame)


@pytest.mark.parametrize("type_", [0, 11, 255])
def test_unknown_type(type_: int) -> None:
    header = struct.pack("<2sBBIIIII", b"C3", type_, 0, 0, 0, 0, 0, 0)
    with pytest.raises(protocolerror, match="Unknown frame type"):
        gen3.FrameDecoder().feed(header)


def test_length_limit_before_allocation() -> None:
    header = struct.pack("<2sBBIIIII", b"C3", 5, 0, 1, 1, 0, config.maxpacketsize + 1, 0)
    with pytest.raises(protocolerror, match="over the limit"):
        gen3.FrameDecoder().feed(header)


def test_empty_payload_has_crc_zero() -> None:
    assert gen3.encode_frame(T.ACK)[20:24] == b"\0\0\0\0"
    assert zlib.crc32(b"") == 0


def test_reply_status_lives_in_flags_bits_1_and_2() -> None:
    for status in Status:
        assert gen3.reply_status(gen3.status_flags(status) | gen3.RETRANSMIT) is status
    with pytest.raises(protocolerror):
        gen3.reply_status(0x06)


def test_reliable_types() -> None:
    assert {t for t in T if t.reliable} == {T.COMMAND, T.REPLY, T.DATA, T.EVENT}


@given(
    st.one_of(
        st.binary(min_size=24, max_size=300),
        st.binary(min_size=22, max_size=300).map(lambda tail: b"C3" + tail),
    ),
    st.data(),
)
def test_arbitrary_bytes_never_raise_anything_else(data: bytes, draw: st.DataObject) -> None:
    decoder = gen3.FrameDecoder(max_payload=1 << 16)
    with contextlib.suppress(protocolerror):
        feed_all(decoder, data, draw.draw(cuts_for(data)))
    assert decoder.needed() <= 1 << 16


@given(st.binary(max_size=200), st.integers(0, 2), st.binary(max_size=40))
def test_whole_agrees_with_feeding(payload: bytes, damage: int, tail: bytes) -> None:
    frame = bytearray(gen3.encode_frame(gen3.Type.REPLY, payload, session=5, seq=7, ack=3))
    if damage == 1 and payload:
        frame[-1] ^= 0xFF  # a bad CRC
    elif damage == 2:
        frame[0:2] = b"XX"  # a wrong magic
    data = bytearray(b"x" + frame + tail)
    found = gen3.FrameDecoder(max_payload=150).whole(data, 1, len(data))
    fresh = gen3.FrameDecoder(max_payload=150)
    if len(payload) > 150 or damage == 2 or (damage == 1 and payload):
        assert found is None
        with pytest.raises(protocolerror):
            fresh.feed(bytes(frame))
        return
    assert found is not None
    message, stop = found
    assert stop == 1 + len(frame)
    fresh.feed(bytes(frame))
    assert fresh.next_event() == message == (gen3.Type.REPLY, 0, 5, 7, 3, payload)
    assert gen3.FrameDecoder().whole(data, 1, stop - 1) is None  # one byte short
