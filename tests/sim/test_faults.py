"""Every fault's effect at the byte level, on every generation that has it."""

from __future__ import annotations

import socket
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from ccdpc import gen1, gen2, gen3
from ccdpc.errors import protocolerror
from ccdpc.greeting import GREETING_SIZE
from ccdpc.messages import Status
from ccdpc.reader import UnitReader
from ccdpc.sim import Simulator
from ccdpc.sim.link import LINGER

from .conftest import Connect, StartSim
from .rawclient import RawClient, wait_until

STATUS_TEXT = b"IDLE frames=0"
HUGE = 64 * 1024 * 1024 + 1
DECODERS: dict[int, Callable[[], UnitReader[Any]]] = {
    1: gen1.ReplyDecoder,
    2: gen2.PacketDecoder,
    3: gen3.FrameDecoder,
}


def reply_bytes(client: RawClient, text: bytes = STATUS_TEXT, seq: int = 1, ack: int = 1) -> bytes:
    """The bytes of a reply as sent intact (gen2: `seq` is the command's; gen3: the frame's)."""
    if client.protocol == 1:
        return gen1.encode_record(b"OK " + text)
    if client.protocol == 2:
        return gen2.encode_packet(gen2.Type.REPLY, text, seq=seq)
    return gen3.encode_frame(gen3.Type.REPLY, text, session=client.session, seq=seq, ack=ack)


def rejected(protocol: int, data: bytes) -> bool:
    decoder = DECODERS[protocol]()
    try:
        decoder.feed(data)
    except protocolerror:
        return True
    return False


def test_silent_sends_nothing_at_all(sim: Simulator) -> None:
    sim.set_faults(["silent"])
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(16)
        sock.sendall(b"IDENT".ljust(80))
        with pytest.raises(TimeoutError):
            sock.recv(16)


def test_wrong_version_greeting(sim: Simulator, connect: Connect) -> None:
    sim.set_faults(["wrong-version"])
    assert connect(sim, open_session=False).greeting == b"CCDPC/9.0     \r\n"


def test_stall_first_answers_nothing_and_executes_nothing(sim: Simulator, connect: Connect) -> None:
    sim.set_faults(["stall-first"])
    client = connect(sim)  # generation 3: OPENED did come
    client.send_command("EXPOSE 1")
    client.expect_silence(0.3)
    assert sim.detector.state == "IDLE"
    client.close()
    sim.set_faults([])
    wait_until(lambda: not sim.connected)
    if sim.protocol == 3:
        again = connect(sim, session=client.session)
        again.seq = 0
    else:
        again = connect(sim)
    assert again.command("STATUS").text == "IDLE frames=0"


def test_faults_set_once_act_once(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    sim.set_faults(["stall-mid"], once=True)
    client.send_command("STATUS")
    full = reply_bytes(client)
    assert client.recv_exactly(len(full) // 2) == full[: len(full) // 2]
    assert sim.faults == frozenset()  # spent: the next connection is served normally
    client.close()
    wait_until(lambda: not sim.connected)
    assert connect(sim).command("STATUS").text == "IDLE frames=0"


@pytest.mark.parametrize("fault", ["stall-mid", "close-mid"])
def test_half_a_reply_then_stall_or_close(sim: Simulator, connect: Connect, fault: str) -> None:
    client = connect(sim)
    sim.set_faults([fault])
    client.send_command("STATUS")
    full = reply_bytes(client)
    assert client.recv_exactly(len(full) // 2) == full[: len(full) // 2]
    if fault == "stall-mid":
        client.expect_silence(0.3)
    else:
        assert client.read_until_eof() == b""
    client.close()
    sim.set_faults([])
    wait_until(lambda: not sim.connected)
    assert connect(sim).command("STATUS").text == "IDLE frames=0", "repaired"


def test_stall_mid_on_read_sends_half_the_reply_message_only(
    sim: Simulator, connect: Connect
) -> None:
    client = connect(sim)
    client.command("EXPOSE 0 2")
    if sim.protocol > 1:
        client.events(4)
    wait_until(lambda: sim.detector.frames_taken == 1)
    sim.set_faults(["stall-mid"])
    client.send_command("READ")
    if sim.protocol == 1:
        full = gen1.encode_data("FRAME 621 576", 621 * 576 * 2)
    else:
        full = reply_bytes(client, b"FRAME 621 576", seq=2 if sim.protocol == 2 else 6, ack=2)
    assert client.recv_exactly(len(full) // 2) == full[: len(full) // 2]
    client.expect_silence(0.3)


def test_garbage_replaces_the_reply_with_high_bit_bytes(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    sim.set_faults(["garbage"])
    client.send_command("STATUS")
    size = len(reply_bytes(client))
    junk = client.recv_exactly(size)
    assert all(byte >= 0x80 for byte in junk)
    assert rejected(sim.protocol, junk)
    client.expect_silence(0.1)
    sim.set_faults([])
    client.reset_decoder(received=1)
    assert client.command("IDENT").text.startswith("KAPPACCD-SIM "), "the next reply is intact"


def test_huge_length_announces_64_mib_plus_one_then_nothing(
    sim: Simulator, connect: Connect
) -> None:
    client = connect(sim)
    sim.set_faults(["huge-length"])
    client.send_command("STATUS")
    if sim.protocol == 1:
        expected = b"DA 67108865 FRAME 1242 1152".ljust(80)
    elif sim.protocol == 2:
        expected = gen2.encode_header(gen2.Type.REPLY, Status.OK, 1, HUGE)
    else:
        expected = gen3.HEADER.pack(gen3.MAGIC, gen3.Type.REPLY, 0, client.session, 1, 1, HUGE, 0)
    assert client.recv_exactly(len(expected)) == expected
    assert rejected(sim.protocol, expected)
    client.expect_silence(0.3)


def test_bad_crc_on_reply_frames(start_sim: StartSim, connect: Connect) -> None:
    sim = start_sim(3)
    client = connect(sim)
    sim.set_faults(["bad-crc"])
    client.send_command("STATUS")
    data = client.recv_exactly(gen3.HEADER_SIZE + len(STATUS_TEXT))
    header = gen3.decode_header(data[: gen3.HEADER_SIZE])
    assert data[gen3.HEADER_SIZE :] == STATUS_TEXT
    assert header.crc == zlib.crc32(STATUS_TEXT) ^ 0xFFFFFFFF
    with pytest.raises(protocolerror, match="Bad CRC"):
        gen3.FrameDecoder().feed(data)
    sim.set_faults([])
    client.received = 1
    assert client.command("IDENT").text.startswith("KAPPACCD-SIM ")


def test_reset_closes_with_rst_instead_of_answering(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    sim.set_faults(["reset"])
    client.send_command("EXPOSE 1")
    with pytest.raises(ConnectionResetError):
        client.read_until_eof()
    assert sim.detector.state == "IDLE", "the command was not executed"


def test_trickle_sends_byte_by_byte(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, faults=["trickle"], trickle_delay=0.005)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as sock:
        chunks: list[bytes] = []
        while sum(len(chunk) for chunk in chunks) < GREETING_SIZE:
            chunk = sock.recv(GREETING_SIZE)
            assert chunk
            chunks.append(chunk)
    assert b"".join(chunks) == f"CCDPC/{protocol}.0     \r\n".encode()
    assert len(chunks) >= GREETING_SIZE // 2, f"arrived in {len(chunks)} pieces"


def test_trickle_replies_are_intact(start_sim: StartSim, connect: Connect, protocol: int) -> None:
    sim = start_sim(protocol, faults=["trickle"], trickle_delay=0.0001)
    assert connect(sim).command("STATUS").text == "IDLE frames=0"


def test_drop_session_cuts_after_the_byte_count(start_sim: StartSim, connect: Connect) -> None:
    sim = start_sim(3, faults=["drop-session"], drop_after=100)
    client = connect(sim)  # OPENED: 27 bytes
    for _ in range(3):
        client.send_command("STATUS")  # 37 bytes each: the third is cut after 36
    received = client.read_until_eof()
    assert received == (reply_bytes(client) + reply_bytes(client, seq=2, ack=2))[: 100 - 27]


def test_drop_session_again_and_again_loses_nothing(start_sim: StartSim) -> None:
    sim = start_sim(3, faults=["drop-session"], drop_after=150)
    client = RawClient(sim.port, 3)
    session, texts = client.session, []
    for number in range(20):
        command = f"SHUTTER {'OPEN' if number % 2 else 'CLOSE'}"
        client.send_command(command)
        while True:
            try:
                texts.append(client.reply().text)
                break
            except EOFError:
                seq, received = client.seq, client.received
                client.close()
                client = RawClient(sim.port, 3, session=session, ack=received)
                client.seq = seq
                assert client.opened is not None
                if client.opened.ack < seq:  # the command was lost with the connection
                    client.send_command(command, seq=seq)
    client.close()
    assert texts == [f"SHUTTER {'OPEN' if n % 2 else 'CLOSED'}" for n in range(20)]
    assert sim.connections > 5


def recv_pieces(sock: socket.socket, size: int) -> list[bytes]:
    """What each ``recv`` returned until `size` bytes had come (every wait bounded by the
    socket's timeout)."""
    pieces: list[bytes] = []
    while sum(len(piece) for piece in pieces) < size:
        piece = sock.recv(size)
        assert piece, f"EOF after {pieces!r}"
        pieces.append(piece)
    return pieces


def test_slow_sends_in_spaced_chunks(start_sim: StartSim, protocol: int) -> None:
    sim = start_sim(protocol, faults=["slow"], slow_chunk=5, slow_delay=0.05)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as sock:
        pieces = recv_pieces(sock, GREETING_SIZE)
    assert b"".join(pieces) == f"CCDPC/{protocol}.0     \r\n".encode()
    # 16 bytes in chunks of 5 bytes, 50 ms apart: no recv can get two chunks at once.
    assert len(pieces) >= -(-GREETING_SIZE // 5), f"arrived as {pieces!r}"
    assert all(len(piece) <= 5 for piece in pieces), pieces


def test_slow_paces_a_reply_across_its_parts(start_sim: StartSim, connect: Connect) -> None:
    sim = start_sim(2, slow_chunk=4, slow_delay=0.05)
    client = connect(sim)
    sim.set_faults(["slow"])
    client.send_command("STATUS")
    full = reply_bytes(client)  # a 12-byte header and a 13-byte payload: 25 bytes
    pieces = recv_pieces(client.sock, len(full))
    assert b"".join(pieces) == full
    assert len(pieces) >= -(-len(full) // 4) and all(len(piece) <= 4 for piece in pieces), pieces


def test_slow_replies_are_intact(start_sim: StartSim, connect: Connect, protocol: int) -> None:
    sim = start_sim(protocol, faults=["slow"], slow_chunk=7, slow_delay=0.001)
    client = connect(sim)
    assert client.command("STATUS").text == "IDLE frames=0"
    assert client.command("IDENT").text.startswith("KAPPACCD-SIM ")


def test_slow_does_not_hold_up_a_closing_simulator(start_sim: StartSim, connect: Connect) -> None:
    sim = start_sim(1, slow_chunk=1, slow_delay=30)
    client = connect(sim)
    sim.set_faults(["slow"])
    client.send_command("STATUS")
    assert client.recv_exactly(1) == b"O"  # the next byte is due in 30 s
    start = time.monotonic()
    sim.stop()
    assert time.monotonic() - start < 5


def test_half_close_sends_fin_and_keeps_reading(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    sim.set_faults(["half-close"])
    client.send_command("EXPOSE 1")
    assert client.read_until_eof() == b""  # a FIN, not an RST, and no answer
    assert sim.detector.state == "IDLE", "the command was not executed"
    assert not sim.connected, "the controlling-client slot is free"
    # Past the linger of an ordinary close, the server still reads (and drops) what comes: a
    # closed socket would answer it with an RST.
    until = time.monotonic() + LINGER + 0.5
    while time.monotonic() < until:
        client.send_command("STATUS")
        assert client.recv_some(0.1) == b""
        time.sleep(0.05)  # pacing, not synchronisation: a few commands over the window
    client.close()
    sim.set_faults([])
    assert connect(sim).command("STATUS").text == "IDLE frames=0", "repaired"


def test_header_only_sends_the_header_then_nothing(sim: Simulator, connect: Connect) -> None:
    client = connect(sim)
    sim.set_faults(["header-only"])
    client.send_command("STATUS")
    full = reply_bytes(client)
    size = {1: 3, 2: gen2.HEADER_SIZE, 3: gen3.HEADER_SIZE}[sim.protocol]
    assert client.recv_exactly(size) == full[:size]
    client.expect_silence(0.3)
    client.close()
    sim.set_faults([])
    wait_until(lambda: not sim.connected)
    assert connect(sim).command("STATUS").text == "IDLE frames=0", "repaired"
