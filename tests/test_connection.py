"""Connection classes against scripted TCP peers: the exact bytes on the wire and every way a
peer can misbehave that the simulator does not cover by itself."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

import pytest

import ccdpc
from ccdpc import (
    CCDPC,
    CommandError,
    Data,
    Event,
    NewCCDPC,
    Reply,
    StandardCCDPC,
    Status,
    emptypacket,
    error,
    gen1,
    gen2,
    protocolerror,
    timeout,
)
from ccdpc.greeting import encode_greeting

from .fault_report import FaultMatrix
from .peers import ScriptedPeer, read_exactly

Start = Callable[[Callable[[socket.socket], None]], ScriptedPeer]
G1 = encode_greeting(1, 0)
G2 = encode_greeting(2, 1)


def until_closed(conn: socket.socket) -> None:
    """Keep the peer's side open until the client goes away (bounded by the socket timeout)."""
    while conn.recv(4096):
        pass


def command2(conn: socket.socket) -> gen2.Packet:
    decoder = gen2.PacketDecoder()
    header = read_exactly(conn, 12)
    decoder.feed(header)
    if decoder.needed() and decoder.mid_message:
        decoder.feed(read_exactly(conn, decoder.needed()))
    packet = decoder.next_event()
    assert packet is not None
    return packet


def test_gen1_command_and_error_reply(scripted_peer: Start) -> None:
    seen: list[bytes] = []

    def script(conn: socket.socket) -> None:
        conn.sendall(G1)
        seen.append(read_exactly(conn, 80))
        conn.sendall(gen1.encode_reply("-60.2"))
        seen.append(read_exactly(conn, 80))
        conn.sendall(gen1.encode_reply("unknown command FOO", Status.ERROR))
        seen.append(read_exactly(conn, 80))
        conn.sendall(gen1.encode_reply("IDLE frames=0"))
        until_closed(conn)

    peer = scripted_peer(script)
    with CCDPC(peer.hostname) as pc:
        assert type(pc) is StandardCCDPC
        assert (pc.protocol_version, pc.server_version) == (1, "1.0")
        assert pc.command("TEMP") == "-60.2"
        with pytest.raises(CommandError, match="unknown command FOO") as info:
            pc.command("foo")
        assert not info.value.busy
        assert pc.connected
        assert pc.command("STATUS") == "IDLE frames=0"
    assert seen == [gen1.encode_record(t) for t in ("TEMP", "foo", "STATUS")]
    assert not pc.connected


def test_gen1_read_frame(scripted_peer: Start) -> None:
    pixels = struct.pack("<6H", 1, 2, 3, 4, 5, 65535)

    def script(conn: socket.socket) -> None:
        conn.sendall(G1)
        read_exactly(conn, 80)
        conn.sendall(gen1.encode_data("FRAME 3 2", len(pixels)) + pixels)
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        frame = pc.read_frame()
    assert (frame.width, frame.height, bytes(frame.pixels)) == (3, 2, pixels)


def test_frame_size_mismatch_is_a_protocol_error(scripted_peer: Start) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(G1)
        read_exactly(conn, 80)
        conn.sendall(gen1.encode_data("FRAME 3 2", 4) + b"abcd")
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        with pytest.raises(protocolerror, match="3x2 came with 4 bytes"):
            pc.read_frame()
        assert not pc.connected


def test_gen1_command_too_long_is_refused_before_sending(scripted_peer: Start) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(G1)
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        with pytest.raises(ValueError, match="80 bytes"):
            pc.command("X" * 81)
        with pytest.raises(ValueError, match="ASCII"):
            pc.command("température")
        assert pc.connected


def test_gen2_sequence_numbers_events_and_data(scripted_peer: Start) -> None:
    seen: list[gen2.Packet] = []

    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        first = command2(conn)
        seen.append(first)
        conn.sendall(
            gen2.encode_packet(gen2.Type.EVENT, b"STATE READING", seq=1)
            + gen2.encode_packet(gen2.Type.REPLY, b"FRAME 1 1", seq=first.seq)
            + gen2.encode_packet(gen2.Type.DATA, b"\x07\x00", seq=first.seq)
        )
        second = command2(conn)
        seen.append(second)
        conn.sendall(gen2.encode_packet(gen2.Type.REPLY, b"exposing", second.seq, Status.BUSY))
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        assert type(pc) is NewCCDPC
        frame = pc.read_frame()
        assert (frame.width, frame.height, bytes(frame.pixels)) == (1, 1, b"\x07\x00")
        with pytest.raises(CommandError, match="exposing") as info:
            pc.command("EXPOSE 1")
        assert info.value.busy
        assert pc.pending == 1
        assert pc.receive(0.1) == Event("STATE READING", 1)
    assert [(p.seq, bytes(p.payload)) for p in seen] == [(1, b"READ"), (2, b"EXPOSE 1")]


def test_gen2_reply_to_another_command_is_a_protocol_error(scripted_peer: Start) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        command2(conn)
        conn.sendall(gen2.encode_packet(gen2.Type.REPLY, b"IDLE", seq=99))
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        with pytest.raises(protocolerror, match="Reply to command 99 while awaiting command 1"):
            pc.command("STATUS")
        assert not pc.connected
        with pytest.raises(error, match="Not connected"):
            pc.command("STATUS")


def test_gen2_refusal_of_a_second_client(scripted_peer: Start) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(
            G2 + gen2.encode_packet(gen2.Type.REPLY, b"another client is connected", 0, Status.BUSY)
        )

    with CCDPC(scripted_peer(script).hostname) as pc:
        with pytest.raises(error, match="another client is connected") as info:
            pc.command("IDENT")
        assert type(info.value) is error
        assert not pc.connected


def test_send_and_receive_raw(scripted_peer: Start) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        packet = command2(conn)
        conn.sendall(gen2.encode_packet(gen2.Type.REPLY, bytes(packet.payload).lower(), packet.seq))
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        seq = pc.send(b"IDENT")
        assert pc.receive(2) == Reply("ident", Status.OK, seq)


def test_receive_timeout_before_any_byte_keeps_the_link(scripted_peer: Start) -> None:
    go = threading.Event()

    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        go.wait(10)
        conn.sendall(gen2.encode_packet(gen2.Type.EVENT, b"STATE IDLE", seq=1))
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        with pytest.raises(timeout, match="select interrupted by timeout"):
            pc.receive(0.1)
        assert pc.connected
        go.set()
        assert pc.receive(5) == Event("STATE IDLE", 1)


def test_header_then_nothing_is_an_incomplete_packet(scripted_peer: Start) -> None:
    header = gen2.encode_header(gen2.Type.DATA, Status.OK, 1, 100)

    def script(conn: socket.socket) -> None:
        conn.sendall(G2 + header + b"abc")
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname, packettimeout=0.2) as pc:
        start = time.monotonic()
        with pytest.raises(timeout, match="Incomplete packet received") as info:
            pc.receive(5)
        assert time.monotonic() - start < 2
        assert info.value.partial == header + b"abc"
        assert info.value.expected == 112
        assert not pc.connected


def test_peer_closing_inside_a_packet(scripted_peer: Start) -> None:
    header = gen2.encode_header(gen2.Type.DATA, Status.OK, 1, 100)

    def script(conn: socket.socket) -> None:
        conn.sendall(G2 + header + b"abc")

    with CCDPC(scripted_peer(script).hostname) as pc:
        with pytest.raises(emptypacket, match=r"after \d+ other packets, 15 bytes") as info:
            pc.receive(5)
        assert info.value.partial == header + b"abc"
        assert not pc.connected


@pytest.mark.parametrize(
    "greeting",
    [b"CCDPC/9.0     \r\n", b"CCDPC/0.1     \r\n", b"HTTP/1.1 400 Bad", b"\xff" * 16],
)
def test_other_protocols_are_protocol_errors_quoting_the_greeting(
    scripted_peer: Start, greeting: bytes
) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(greeting)
        until_closed(conn)

    with pytest.raises(protocolerror) as info:
        CCDPC(scripted_peer(script).hostname)
    assert repr(greeting) in str(info.value)


def test_short_greeting_times_out_within_the_connect_timeout(scripted_peer: Start) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(b"CCDPC/2.1    ")
        until_closed(conn)

    start = time.monotonic()
    with pytest.raises(timeout, match="Incomplete packet received") as info:
        CCDPC(scripted_peer(script).hostname, connecttimeout=0.3)
    assert time.monotonic() - start < 2
    assert info.value.partial == b"CCDPC/2.1    "


def test_silent_peer_times_out(scripted_peer: Start) -> None:
    peer = scripted_peer(until_closed)
    start = time.monotonic()
    with pytest.raises(timeout, match="select interrupted by timeout"):
        CCDPC(peer.hostname, connecttimeout=0.2)
    assert time.monotonic() - start < 2


def test_peer_closing_before_the_greeting(scripted_peer: Start) -> None:
    peer = scripted_peer(lambda conn: conn.sendall(b"CCDPC/"))
    with pytest.raises(emptypacket) as info:
        CCDPC(peer.hostname)
    assert info.value.partial == b"CCDPC/"


def test_connection_refused(fault_matrix: FaultMatrix) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with fault_matrix.case("connection refused") as case:
        with (
            case.timed(5),
            pytest.raises(error, match=f"Cannot connect to 127.0.0.1:{port}") as info,
        ):
            CCDPC(f"127.0.0.1:{port}")
        case.raised(info.value)


def test_unresolvable_host(fault_matrix: FaultMatrix) -> None:
    with fault_matrix.case("unresolvable host") as case:
        with (
            case.timed(10),
            pytest.raises(error, match=r"Cannot resolve host 'no-such-host\.invalid'") as info,
        ):
            CCDPC("no-such-host.invalid:9033", connecttimeout=2)
        case.raised(info.value)


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("pc", ("pc", 9033)),
        ("pc:1234", ("pc", 1234)),
        ("10.0.0.5:65535", ("10.0.0.5", 65535)),
        ("[::1]:9000", ("::1", 9000)),
        ("[::1]", ("::1", 9033)),
    ],
)
def test_hostnames(hostname: str, expected: tuple[str, int]) -> None:
    assert ccdpc.parse_hostname(hostname) == expected


@pytest.mark.parametrize("hostname", ["", ":9033", "pc:", "pc:abc", "pc:0", "pc:70000", "a:b:c"])
def test_bad_hostnames(hostname: str) -> None:
    with pytest.raises(ValueError):
        ccdpc.parse_hostname(hostname)


def test_debugging_traces_every_packet(scripted_peer: Start) -> None:
    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        packet = command2(conn)
        conn.sendall(gen2.encode_packet(gen2.Type.REPLY, b"-60.2", packet.seq))
        until_closed(conn)

    lines: list[str] = []
    with CCDPC(scripted_peer(script).hostname, lines.append, debug=True) as pc:
        assert isinstance(pc, ccdpc.DebuggingCCDPC) and isinstance(pc, NewCCDPC)
        pc.command("TEMP")
    assert len(lines) == 2  # one line a packet: the command, the reply (header and payload)
    assert " > " in lines[0] and "54 45 4d 50" in lines[0] and "|....." in lines[0]
    assert " <       17 bytes | 05 00 00 00 02 00" in lines[1] and "-60.2|" in lines[1]


def test_two_threads_never_interleave(scripted_peer: Start) -> None:
    count = 200

    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        for _ in range(2 * count):
            packet = command2(conn)
            conn.sendall(gen2.encode_packet(gen2.Type.REPLY, bytes(packet.payload), packet.seq))
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        failures: list[BaseException] = []

        def worker(name: str) -> None:
            try:
                for i in range(count):
                    text = f"{name} {i} " + "x" * (i % 50)
                    assert pc.command(text) == text
            except BaseException as exc:  # collected and re-raised by the test thread
                failures.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in ("A", "B")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not failures
        assert pc.counters.packets_sent == 2 * count


def test_data_objects_show_their_size_not_their_bytes() -> None:
    assert repr(Data(bytearray(3_000_000), 4)) == "Data(<3000000 bytes>, seq=4)"


def test_bytes_read_ahead_count_as_pending_and_come_first(scripted_peer: Start) -> None:
    """A reply and an event sent together: the event is read with the reply (one receive), so
    `pending` says so, and `receive` hands it over without waiting for the socket."""
    go = threading.Event()

    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        first = command2(conn)
        conn.sendall(
            gen2.encode_packet(gen2.Type.REPLY, b"IDLE", seq=first.seq)
            + gen2.encode_packet(gen2.Type.EVENT, b"STATE IDLE", seq=1)
        )
        go.wait(10)
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        assert pc.command("STATUS") == "IDLE"
        assert pc.pending == 1  # select on fileno would not see it: it is no longer in the socket
        assert pc.receive(0) == Event("STATE IDLE", 1)
        assert pc.pending == 0
        go.set()


def test_a_message_split_around_the_read_ahead_is_reassembled(scripted_peer: Start) -> None:
    """The start of the next message comes with a reply; its rest comes later, in pieces."""
    event = gen2.encode_packet(gen2.Type.EVENT, b"STATE READING", seq=1)

    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        first = command2(conn)
        conn.sendall(gen2.encode_packet(gen2.Type.REPLY, b"IDLE", seq=first.seq) + event[:5])
        for index in range(5, len(event), 4):
            time.sleep(0.01)
            conn.sendall(event[index : index + 4])
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        assert pc.command("STATUS") == "IDLE"
        assert pc.receive(5) == Event("STATE READING", 1)


def test_read_ahead_start_of_a_message_then_nothing_is_incomplete(scripted_peer: Start) -> None:
    """The bytes read ahead belong to the message under way: a failure reports them, and the
    rest must come within the packet timeout, however long `receive` would wait."""
    head = gen2.encode_header(gen2.Type.EVENT, Status.OK, 1, 10)

    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        first = command2(conn)
        conn.sendall(gen2.encode_packet(gen2.Type.REPLY, b"IDLE", seq=first.seq) + head[:7])
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname, packettimeout=0.2) as pc:
        assert pc.command("STATUS") == "IDLE"
        assert pc.pending == 1
        with pytest.raises(timeout, match="Incomplete packet received") as info:
            pc.receive(30)
        assert info.value.partial == head[:7]
        assert not pc.connected
        assert pc.pending == 0


def test_a_frame_larger_than_the_read_ahead_lands_in_its_own_buffer(scripted_peer: Start) -> None:
    pixels = bytes(range(256)) * 1024  # 256 KiB: part comes with the header, the rest after

    def script(conn: socket.socket) -> None:
        conn.sendall(G2)
        first = command2(conn)
        conn.sendall(
            gen2.encode_packet(gen2.Type.REPLY, b"FRAME 512 256", seq=first.seq)
            + gen2.encode_packet(gen2.Type.DATA, pixels, seq=first.seq)
        )
        until_closed(conn)

    with CCDPC(scripted_peer(script).hostname) as pc:
        frame = pc.read_frame()
        assert (frame.width, frame.height) == (512, 256)
        assert frame.pixels == pixels
        assert pc.pending == 0
