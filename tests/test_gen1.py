"""Generation 1 records: encoding, decoding in any chunking, limits, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccdpc import config, gen1, protocolerror
from ccdpc.messages import Data, Reply, Status

from .framing_helpers import byte_by_byte, cuts_for, feed_all

TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


def test_record_is_padded_to_80() -> None:
    assert gen1.encode_record("IDENT") == b"IDENT" + b" " * 75


def test_record_over_80_bytes_is_refused() -> None:
    gen1.encode_record("x" * 80)
    with pytest.raises(ValueError):
        gen1.encode_record("x" * 81)


def test_record_must_be_ascii() -> None:
    with pytest.raises(ValueError):
        gen1.encode_record(b"caf\xe9")


def test_busy_is_an_er_busy_record() -> None:
    assert gen1.encode_reply("exposing", Status.BUSY).rstrip() == b"ER BUSY exposing"


def stream() -> tuple[bytes, list[object]]:
    pixels = bytes(range(8))
    data = (
        gen1.encode_reply("")
        + gen1.encode_reply("KAPPACCD-SIM 000042 1.0.0")
        + gen1.encode_reply("no frame", Status.ERROR)
        + gen1.encode_reply("exposing", Status.BUSY)
        + gen1.encode_data("FRAME 2 2", len(pixels))
        + pixels
        + gen1.encode_data("", 0)
        + gen1.encode_reply("ABORTED")
    )
    expected = [
        Reply(""),
        Reply("KAPPACCD-SIM 000042 1.0.0"),
        Reply("no frame", Status.ERROR),
        Reply("BUSY exposing", Status.BUSY),
        Reply("FRAME 2 2"),
        Data(bytearray(pixels)),
        Reply(""),
        Data(bytearray()),
        Reply("ABORTED"),
    ]
    return data, expected


def test_stream_whole() -> None:
    data, expected = stream()
    assert feed_all(gen1.ReplyDecoder(), data) == expected


def test_stream_trickled_byte_by_byte() -> None:
    data, expected = stream()
    assert feed_all(gen1.ReplyDecoder(), data, byte_by_byte(data)) == expected


@given(st.data())
def test_stream_in_random_chunks(draw: st.DataObject) -> None:
    data, expected = stream()
    assert feed_all(gen1.ReplyDecoder(), data, draw.draw(cuts_for(data))) == expected


@given(
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from([Status.OK, Status.ERROR]), TEXT),
            st.tuples(st.just(None), st.binary(max_size=300)),
        ),
        max_size=10,
    ),
    st.data(),
)
def test_round_trip(items: list[tuple[Status | None, object]], draw: st.DataObject) -> None:
    data, expected = b"", []
    for status, value in items:
        if status is None:
            assert isinstance(value, bytes)
            data += gen1.encode_data("BLOB", len(value)) + value
            expected += [Reply("BLOB"), Data(bytearray(value))]
        else:
            assert isinstance(value, str)
            data += gen1.encode_reply(value, status)
            kind = Status.BUSY if status is Status.ERROR and value.startswith("BUSY") else status
            expected.append(Reply(value, kind))
    assert feed_all(gen1.ReplyDecoder(), data, draw.draw(cuts_for(data))) == expected


def test_payload_is_passed_on_without_copy() -> None:
    decoder = gen1.ReplyDecoder()
    decoder.feed(bytearray(gen1.encode_data("FRAME 2 1", 4)))
    assert decoder.needed() == 4
    buffer = bytearray(b"\x01\x00\x02\x00")
    decoder.feed(buffer)
    assert decoder.next_event() == Reply("FRAME 2 1")
    data = decoder.next_event()
    assert isinstance(data, Data) and data.payload is buffer


@pytest.mark.parametrize(
    "record",
    [
        b"XX hello",
        b"ok lower case",
        b"OK\xffbad",
        b"DA -5 FRAME",
        b"DA five FRAME",
        b"DA  5",
        b"DA",
    ],
)
def test_bad_records_are_protocol_errors(record: bytes) -> None:
    raw = record.ljust(80, b" ")
    with pytest.raises(protocolerror) as info:
        gen1.ReplyDecoder().feed(raw)
    assert info.value.partial == raw


def test_huge_data_record_rejected_before_allocation() -> None:
    decoder = gen1.ReplyDecoder()
    with pytest.raises(protocolerror, match="over the limit"):
        decoder.feed(gen1.encode_data("FRAME 1242 1152", config.maxpacketsize + 1))
    gen1.ReplyDecoder().feed(gen1.encode_data("FRAME", config.maxpacketsize))


def test_a_lower_limit_is_honoured() -> None:
    with pytest.raises(protocolerror):
        gen1.ReplyDecoder(max_payload=100).feed(gen1.encode_data("X", 101))


@given(st.binary(min_size=80, max_size=400), st.data())
def test_arbitrary_bytes_never_raise_anything_else(data: bytes, draw: st.DataObject) -> None:
    decoder = gen1.ReplyDecoder(max_payload=1 << 16)
    with contextlib.suppress(protocolerror):
        feed_all(decoder, data, draw.draw(cuts_for(data)))
    assert decoder.needed() <= 1 << 16


def test_whole_takes_reply_records_and_leaves_data_records_to_take() -> None:
    decoder = gen1.ReplyDecoder()
    data = bytearray(b"x" + gen1.encode_reply("IDLE") + gen1.encode_reply("now", Status.BUSY))
    assert decoder.whole(data, 1, len(data)) == (Reply("IDLE"), 81)
    assert decoder.whole(data, 81, len(data)) == (Reply("BUSY now", Status.BUSY), 161)
    assert decoder.whole(data, 81, len(data) - 1) is None  # one byte short
    record = bytearray(gen1.encode_data("FRAME 2 1", 4))
    assert decoder.whole(record, 0, len(record)) is None
    assert decoder.whole(bytearray(b"\xff" * 80), 0, 80) is None  # `take` raises for it
    assert decoder.idle()
