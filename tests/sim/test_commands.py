"""Greeting and every command's exact reply, byte for byte, on each generation, over raw sockets."""

from __future__ import annotations

import re
import zlib

import pytest

import ccdpc
from ccdpc import gen2, gen3
from ccdpc.gen1 import RECORD_SIZE
from ccdpc.messages import Status
from ccdpc.sim import Simulator, synthetic_frame

from .conftest import Connect, StartSim
from .rawclient import wait_for_status

OK, ERROR, BUSY = Status.OK, Status.ERROR, Status.BUSY


@pytest.mark.parametrize(
    ("protocol", "minor", "greeting"),
    [
        (1, 0, b"CCDPC/1.0     \r\n"),
        (2, 1, b"CCDPC/2.1     \r\n"),
        (3, 0, b"CCDPC/3.0     \r\n"),
        (3, 1234, b"CCDPC/3.1234  \r\n"),
    ],
)
def test_greeting(
    start_sim: StartSim, connect: Connect, protocol: int, minor: int, greeting: bytes
) -> None:
    sim = start_sim(protocol, minor=minor)
    assert connect(sim, open_session=False).greeting == greeting


def test_gen3_open_gives_a_new_session(start_sim: StartSim, connect: Connect) -> None:
    client = connect(start_sim(3))
    opened = client.opened
    assert opened is not None
    assert (opened.type, opened.seq, opened.ack, bytes(opened.payload)) == (
        gen3.Type.OPENED,
        0,
        0,
        b"new",
    )
    assert opened.session != 0


@pytest.mark.parametrize(
    ("command", "status", "text"),
    [
        ("IDENT", OK, f"KAPPACCD-SIM 000000 {ccdpc.__version__}"),
        ("STATUS", OK, "IDLE frames=0"),
        ("status", OK, "IDLE frames=0"),
        ("SHUTTER OPEN", OK, "SHUTTER OPEN"),
        ("Shutter  Close", OK, "SHUTTER CLOSED"),
        ("ABORT", OK, "ABORTED"),
        ("READ", ERROR, "no frame"),
        ("EXPOSE 5000", ERROR, "bad argument: seconds must be 0 to 3600, not 5000"),
        ("EXPOSE 1 4", ERROR, "bad argument: binning must be 1 or 2, not 4"),
        ("WHATEVER 1", ERROR, "unknown command WHATEVER"),
        ("", ERROR, "empty command"),
        ("IDENT\x7f", ERROR, "command not ASCII"),
        ("EXPOSE 0.25 2", OK, "EXPOSING 0.250 2"),
    ],
)
def test_reply_texts(
    sim: Simulator, connect: Connect, command: str, status: Status, text: str
) -> None:
    answer = connect(sim).command(command)
    assert (answer.status, answer.text) == (status, text)


def test_temperature(sim: Simulator, connect: Connect) -> None:
    text = connect(sim).command("TEMP").text
    assert re.fullmatch(r"-6[01]\.[0-9]|-59\.[0-9]", text), text


def test_gen1_records_exactly(start_sim: StartSim, connect: Connect) -> None:
    client = connect(start_sim(1))
    client.send_command("STATUS")
    assert client.recv_exactly(RECORD_SIZE) == b"OK IDLE frames=0".ljust(RECORD_SIZE)
    client.send_command("READ")
    assert client.recv_exactly(RECORD_SIZE) == b"ER no frame".ljust(RECORD_SIZE)
    client.send_command("EXPOSE 10")
    assert client.recv_exactly(RECORD_SIZE) == b"OK EXPOSING 10.000 1".ljust(RECORD_SIZE)
    client.send_command("EXPOSE 10")
    assert client.recv_exactly(RECORD_SIZE) == b"ER BUSY exposing".ljust(RECORD_SIZE)
    client.send_command("x" * 80)
    assert client.recv_exactly(RECORD_SIZE) == (b"ER unknown command " + b"x" * 61)


def test_gen2_replies_echo_the_sequence_number(start_sim: StartSim, connect: Connect) -> None:
    client = connect(start_sim(2))
    client.send_command("STATUS", seq=77)
    assert client.recv_exactly(12 + 13) == gen2.encode_packet(
        gen2.Type.REPLY, b"IDLE frames=0", seq=77
    )
    client.send_command("EXPOSE 10", seq=78)
    assert client.reply().seq == 78
    client.send_command("READ", seq=79)
    busy = client.reply()
    assert (busy.status, busy.text, busy.seq) == (BUSY, "exposing", 79)


def test_gen3_reply_frames_numbered_with_status_in_flags(
    start_sim: StartSim, connect: Connect
) -> None:
    client = connect(start_sim(3))
    client.send_command("STATUS")
    header = gen3.decode_header(client.recv_exactly(gen3.HEADER_SIZE))
    payload = client.recv_exactly(header.length)
    assert payload == b"IDLE frames=0"
    assert (header.type, header.flags, header.session, header.seq, header.ack) == (
        gen3.Type.REPLY,
        0,
        client.session,
        1,
        1,
    )
    assert header.crc == zlib.crc32(payload)
    client.received = 1
    client.send_command("NOPE")
    frame = client.next_message()
    assert (frame.seq, frame.ack, gen3.reply_status(frame.flags)) == (2, 2, ERROR)
    assert frame.flags == gen3.status_flags(ERROR)


@pytest.mark.parametrize("length", [4096, 4097])
@pytest.mark.parametrize("protocol", [2, 3])
def test_command_text_limit(
    start_sim: StartSim, connect: Connect, protocol: int, length: int
) -> None:
    answer = connect(start_sim(protocol)).command("STATUS".ljust(length))
    if length <= 4096:
        assert answer.text == "IDLE frames=0"
    else:
        assert (answer.status, answer.text) == (ERROR, "command too long")


@pytest.mark.parametrize(("binning", "size"), [(1, (1242, 1152)), (2, (621, 576))])
def test_read_frame(sim: Simulator, connect: Connect, binning: int, size: tuple[int, int]) -> None:
    client = connect(sim)
    assert client.command(f"EXPOSE 0 {binning}").status is OK
    wait_for_status(client, "IDLE frames=1")
    answer = client.command("READ")
    assert answer.text == f"FRAME {size[0]} {size[1]}"
    assert answer.data is not None
    assert len(answer.data) == size[0] * size[1] * 2
    assert answer.data == synthetic_frame(size[0], size[1], 0, 1)
    again = client.command("READ")
    assert again.data == answer.data, "READ returns the most recent frame again"


def test_busy_while_exposing_and_reading(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    client.command("EXPOSE 30")
    for command in ("EXPOSE 1", "READ"):
        answer = client.command(command)
        expected = (BUSY, "BUSY exposing") if sim.protocol == 1 else (BUSY, "exposing")
        assert (answer.status, answer.text) == expected
    assert client.command("STATUS").text.startswith("EXPOSING ")
    assert client.command("ABORT").text == "ABORTED"
    assert client.command("STATUS").text == "IDLE frames=0"
    assert client.command("READ").text == "no frame"


def test_gen2_hangs_up_on_a_packet_that_is_not_a_command(
    start_sim: StartSim, connect: Connect
) -> None:
    client = connect(start_sim(2))
    client.send_raw(gen2.encode_packet(gen2.Type.REPLY, b"IDENT", seq=1))
    assert client.read_until_eof() == b""
