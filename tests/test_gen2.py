"""Generation 2 headers and packets: any chunking, limits before allocation, bad headers."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccdpc import config, gen2, protocolerror
from ccdpc.messages import Data, Event, Reply, Status

from .framing_helpers import byte_by_byte, cuts_for, feed_all

PACKETS = st.lists(
    st.tuples(
        st.sampled_from(list(gen2.Type)),
        st.sampled_from(list(Status)),
        st.integers(0, 0xFFFFFFFF),
        st.binary(max_size=200),
    ),
    max_size=8,
)


def encode(items: list[tuple[gen2.Type, Status, int, bytes]]) -> bytes:
    return b"".join(gen2.encode_packet(t, p, seq=q, status=s) for t, s, q, p in items)


def summary(packets: list[gen2.Packet]) -> list[tuple[gen2.Type, Status, int, bytes]]:
    return [(p.type, p.status, p.seq, bytes(p.payload)) for p in packets]


@given(PACKETS, st.data())
def test_round_trip_in_random_chunks(
    items: list[tuple[gen2.Type, Status, int, bytes]], draw: st.DataObject
) -> None:
    data = encode(items)
    assert summary(feed_all(gen2.PacketDecoder(), data, draw.draw(cuts_for(data)))) == items


def test_trickle_byte_by_byte() -> None:
    items = [
        (gen2.Type.REPLY, Status.OK, 1, b"FRAME 2 1"),
        (gen2.Type.DATA, Status.OK, 1, b"\x01\x00\x02\x00"),
        (gen2.Type.EVENT, Status.OK, 1, b""),
    ]
    data = encode(items)
    assert summary(feed_all(gen2.PacketDecoder(), data, byte_by_byte(data))) == items


def test_messages_for_the_client() -> None:
    packets = [
        gen2.Packet(gen2.Type.REPLY, Status.ERROR, 4, bytearray(b"no frame")),
        gen2.Packet(gen2.Type.DATA, Status.OK, 5, bytearray(b"\x00\x01")),
        gen2.Packet(gen2.Type.EVENT, Status.OK, 2, bytearray(b"STATE IDLE")),
    ]
    assert [gen2.to_message(p) for p in packets] == [
        Reply("no frame", Status.ERROR, 4),
        Data(bytearray(b"\x00\x01"), 5),
        Event("STATE IDLE", 2),
    ]


def test_a_command_from_the_server_is_a_protocol_error() -> None:
    with pytest.raises(protocolerror):
        gen2.to_message(gen2.Packet(gen2.Type.COMMAND, Status.OK, 1, bytearray(b"READ")))


def test_non_ascii_text_is_a_protocol_error() -> None:
    with pytest.raises(protocolerror):
        gen2.to_message(gen2.Packet(gen2.Type.REPLY, Status.OK, 1, bytearray(b"\xff")))


def test_length_limit_is_checked_on_the_header_alone() -> None:
    header = struct.pack("<IHHI", config.maxpacketsize + 1, 3, 0, 1)
    decoder = gen2.PacketDecoder()
    with pytest.raises(protocolerror, match="over the limit") as info:
        decoder.feed(header)
    assert info.value.partial == header
    limit = struct.pack("<IHHI", config.maxpacketsize, 3, 0, 1)
    decoder = gen2.PacketDecoder()
    decoder.feed(limit)
    assert decoder.needed() == config.maxpacketsize


@pytest.mark.parametrize(("type_", "status"), [(0, 0), (5, 0), (0xFFFF, 0), (2, 3), (2, 0xFFFF)])
def test_bad_type_or_status(type_: int, status: int) -> None:
    with pytest.raises(protocolerror, match="Invalid header"):
        gen2.PacketDecoder().feed(struct.pack("<IHHI", 0, type_, status, 1))


@given(st.binary(min_size=12, max_size=300), st.data())
def test_arbitrary_bytes_never_raise_anything_else(data: bytes, draw: st.DataObject) -> None:
    decoder = gen2.PacketDecoder(max_payload=1 << 16)
    with contextlib.suppress(protocolerror):
        feed_all(decoder, data, draw.draw(cuts_for(data)))
    assert decoder.needed() <= 1 << 16


@given(PACKETS, st.binary(max_size=40))
def test_whole_agrees_with_feeding(
    items: list[tuple[gen2.Type, Status, int, bytes]], tail: bytes
) -> None:
    data = bytearray(b"x" + encode(items) + tail)
    found = gen2.PacketDecoder(max_payload=150).whole(data, 1, len(data))
    fresh = gen2.PacketDecoder(max_payload=150)
    with contextlib.suppress(protocolerror):  # what `whole` leaves to `take`, or the tail
        fresh.feed(bytes(data[1:]))
    first = fresh.next_event()
    if found is None:
        assert first is None
        return
    packet, stop = found
    assert packet == first and stop == 1 + gen2.HEADER_SIZE + len(packet.payload)
