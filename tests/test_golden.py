"""The golden vectors of docs/protocol.md, section 9: the encoders make them, the decoders read
them. The vectors are read from the document itself, so the page and the code cannot drift."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ccdpc import gen1, gen2, gen3
from ccdpc.gen3 import RETRANSMIT, status_flags
from ccdpc.greeting import encode_greeting, parse_greeting
from ccdpc.messages import Data, Event, Reply, Status

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
S = 0x1234
T3 = gen3.Type


def load_vectors() -> dict[str, bytes]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## 9. Golden vectors") :]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None
    pairs = (line.split(": ") for line in block[1].splitlines() if line.strip())
    return {name: bytes.fromhex(hexes) for name, hexes in pairs}


VECTORS = load_vectors()

ENCODERS: dict[str, Callable[[], bytes]] = {
    "greeting-1.0": lambda: encode_greeting(1, 0),
    "greeting-2.1": lambda: encode_greeting(2, 1),
    "greeting-3.0": lambda: encode_greeting(3, 0),
    "gen1-command-STATUS": lambda: gen1.encode_record("STATUS"),
    "gen1-reply-ok": lambda: gen1.encode_reply("IDLE frames=0"),
    "gen1-reply-error": lambda: gen1.encode_reply("unknown command FOO", Status.ERROR),
    "gen1-data-record": lambda: gen1.encode_data("FRAME 2 1", 4),
    "gen2-command-TEMP": lambda: gen2.encode_packet(gen2.Type.COMMAND, b"TEMP", seq=1),
    "gen2-reply-ok": lambda: gen2.encode_packet(gen2.Type.REPLY, b"-60.2", seq=1),
    "gen2-reply-busy": lambda: gen2.encode_packet(
        gen2.Type.REPLY, b"exposing", seq=7, status=Status.BUSY
    ),
    "gen2-data": lambda: gen2.encode_packet(gen2.Type.DATA, b"\x01\x00\x02\x00", seq=8),
    "gen2-event": lambda: gen2.encode_packet(gen2.Type.EVENT, b"STATE IDLE", seq=3),
    "gen2-refusal": lambda: gen2.encode_packet(
        gen2.Type.REPLY, b"another client is connected", seq=0, status=Status.BUSY
    ),
    "gen3-open-new": lambda: gen3.encode_frame(T3.OPEN),
    "gen3-open-resume": lambda: gen3.encode_frame(T3.OPEN, session=S, ack=5),
    "gen3-opened": lambda: gen3.encode_frame(T3.OPENED, b"new", session=S),
    "gen3-command": lambda: gen3.encode_frame(T3.COMMAND, b"STATUS", session=S, seq=1),
    "gen3-reply-ok": lambda: gen3.encode_frame(T3.REPLY, b"IDLE frames=0", session=S, seq=1, ack=1),
    "gen3-reply-error": lambda: gen3.encode_frame(
        T3.REPLY, b"no frame", session=S, seq=2, ack=2, flags=status_flags(Status.ERROR)
    ),
    "gen3-data-retransmit": lambda: gen3.encode_frame(
        T3.DATA, b"\x01\x00\x02\x00", session=S, seq=3, ack=2, flags=RETRANSMIT
    ),
    "gen3-event": lambda: gen3.encode_frame(T3.EVENT, b"STATE IDLE", session=S, seq=4, ack=2),
    "gen3-ack": lambda: gen3.encode_frame(T3.ACK, session=S, ack=4),
    "gen3-ping": lambda: gen3.encode_frame(T3.PING, b"ccdpc", session=S, ack=4),
    "gen3-pong": lambda: gen3.encode_frame(T3.PONG, b"ccdpc", session=S, ack=2),
    "gen3-close": lambda: gen3.encode_frame(T3.CLOSE, session=S, ack=4),
    "gen3-refusal": lambda: gen3.encode_frame(T3.CLOSE, b"busy: another client is connected"),
}


def test_every_vector_has_an_encoder() -> None:
    assert set(VECTORS) == set(ENCODERS)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoder_makes_the_vector(name: str) -> None:
    assert ENCODERS[name]() == VECTORS[name]


def test_greetings_decode() -> None:
    assert parse_greeting(VECTORS["greeting-1.0"]) == (1, 0)
    assert parse_greeting(VECTORS["greeting-2.1"]) == (2, 1)
    assert parse_greeting(VECTORS["greeting-3.0"]) == (3, 0)


def decode1(data: bytes) -> list[object]:
    decoder = gen1.ReplyDecoder()
    decoder.feed(data)
    return list(iter(decoder.next_event, None))


def test_gen1_vectors_decode() -> None:
    assert gen1.decode_record(VECTORS["gen1-command-STATUS"]) == "STATUS"
    assert decode1(VECTORS["gen1-reply-ok"]) == [Reply("IDLE frames=0")]
    assert decode1(VECTORS["gen1-reply-error"]) == [Reply("unknown command FOO", Status.ERROR)]
    pixels = b"\x01\x00\x02\x00"
    assert decode1(VECTORS["gen1-data-record"] + pixels) == [
        Reply("FRAME 2 1"),
        Data(bytearray(pixels)),
    ]


def decode2(data: bytes) -> list[gen2.Packet]:
    decoder = gen2.PacketDecoder()
    decoder.feed(data)
    return list(iter(decoder.next_event, None))


def test_gen2_vectors_decode() -> None:
    (command,) = decode2(VECTORS["gen2-command-TEMP"])
    assert (command.type, command.seq, command.payload) == (gen2.Type.COMMAND, 1, b"TEMP")
    messages = [
        gen2.to_message(p)
        for name in ("gen2-reply-ok", "gen2-reply-busy", "gen2-data", "gen2-event", "gen2-refusal")
        for p in decode2(VECTORS[name])
    ]
    assert messages == [
        Reply("-60.2", Status.OK, 1),
        Reply("exposing", Status.BUSY, 7),
        Data(bytearray(b"\x01\x00\x02\x00"), 8),
        Event("STATE IDLE", 3),
        Reply("another client is connected", Status.BUSY, 0),
    ]


def test_gen3_vectors_decode() -> None:
    decoder = gen3.FrameDecoder()
    names = [name for name in ENCODERS if name.startswith("gen3-")]
    for name in names:
        decoder.feed(VECTORS[name])
    frames = list(iter(decoder.next_event, None))
    summary = [(f.type, f.flags, f.session, f.seq, f.ack, bytes(f.payload)) for f in frames]
    assert summary == [
        (T3.OPEN, 0, 0, 0, 0, b""),
        (T3.OPEN, 0, S, 0, 5, b""),
        (T3.OPENED, 0, S, 0, 0, b"new"),
        (T3.COMMAND, 0, S, 1, 0, b"STATUS"),
        (T3.REPLY, 0, S, 1, 1, b"IDLE frames=0"),
        (T3.REPLY, 2, S, 2, 2, b"no frame"),
        (T3.DATA, RETRANSMIT, S, 3, 2, b"\x01\x00\x02\x00"),
        (T3.EVENT, 0, S, 4, 2, b"STATE IDLE"),
        (T3.ACK, 0, S, 0, 4, b""),
        (T3.PING, 0, S, 0, 4, b"ccdpc"),
        (T3.PONG, 0, S, 0, 2, b"ccdpc"),
        (T3.CLOSE, 0, S, 0, 4, b""),
        (T3.CLOSE, 0, 0, 0, 0, b"busy: another client is connected"),
    ]
    assert gen3.reply_status(frames[5].flags) is Status.ERROR
