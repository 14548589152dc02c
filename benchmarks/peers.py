"""The peers of the benchmarks: simulators in a child process, and the raw baseline client.

The simulators run in a child (``python -m benchmarks.peers``), as the detector's PC is another
machine: in the benchmark process they would share its GIL with the client being measured, their
threads would be timed as the client's, and their memory would count in the client's RSS. The
child prints one ``host:port`` a line, then ``ready``, and serves until its stdin closes, so it
cannot outlive the benchmark, even one that crashes.

`RawPeer` is the raw baseline: a blocking socket that speaks just enough of a generation to repeat
a command. Everything that can be done before the clock starts is done then: the command packets
are encoded in advance (generations 2 and 3 with their increasing sequence numbers and, in
generation 3, the right `ack`), and the answer's length is learnt once from a probe, so each timed
exchange is one ``sendall`` and ``recv_into`` a preallocated buffer of exactly that many bytes.
That is the least any client of the protocol must do; the simulator is the same for both sides.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ccdpc import checksum, gen1, gen2, gen3, parse_hostname
from ccdpc.greeting import GREETING_SIZE
from ccdpc.sim import Simulator

__all__ = ["ROOT", "RawPeer", "encode_command", "simulators"]

TIMEOUT = 10.0
_READY = "ready"
_START_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def simulators(protocol: int, count: int = 1, seed: int = 0) -> Iterator[list[str]]:
    """`count` simulators of `protocol` in a child process; yields their hostnames."""
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.peers", str(protocol), str(count), str(seed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,  # where `benchmarks` can be imported from, wherever we were started
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        hostnames = []
        while (line := child.stdout.readline().strip()) != _READY:
            if not line:
                raise RuntimeError(f"the simulator host exited ({child.wait(_START_TIMEOUT)})")
            hostnames.append(line)
        yield hostnames
    finally:
        child.stdin.close()
        try:
            child.wait(_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def encode_command(protocol: int, command: bytes, seq: int, ack: int, session: int) -> bytes:
    """A command as a client of `protocol` sends it: numbered `seq`, acknowledging `ack` and in
    `session` where the generation has them."""
    if protocol == 1:
        return gen1.encode_record(command)
    if protocol == 2:
        return gen2.encode_packet(gen2.Type.COMMAND, command, seq=seq)
    return gen3.encode_frame(gen3.Type.COMMAND, command, session=session, seq=seq, ack=ack)


class RawPeer:
    """A connection to the simulator without the driver: greeting read, gen. 3 session open."""

    def __init__(self, hostname: str, protocol: int) -> None:
        self.protocol = protocol
        self.sock = socket.create_connection(parse_hostname(hostname), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)  # the baseline is the plain blocking call
        self.session = 0
        self.sent = 0  # commands sent: the last sequence number used
        self.received = 0  # generation 3: the server's reliable frames received
        self._recv(GREETING_SIZE)
        if protocol == 3:
            self.sock.sendall(gen3.encode_frame(gen3.Type.OPEN))
            self.session = self._frame3().session
        self._answer = bytearray()
        self._script: Iterator[tuple[bytes, bytes]] = iter(())
        self.crc = 0  # of the last answer `exchange_checked` received
        #: What `exchange_checked` computes: ``zlib.crc32`` or another of `ccdpc.checksum.CRC32S`.
        self.crc32: checksum.Crc32 = zlib.crc32

    def prepare(self, command: bytes, count: int) -> int:
        """Probe `command` once, then encode it `count` times; returns the answer's length."""
        self.sent += 1
        self.sock.sendall(self._encode(command, self.sent, self.received))
        length, frames = self._probe_answer()
        self._answer = bytearray(length)
        packets = []
        for _ in range(count):
            self.sent += 1
            ack_after = b""
            if self.protocol == 3 and frames == 2:
                # docs/protocol.md 5.3: the client sends an ACK frame after each data frame.
                ack_after = gen3.encode_frame(
                    gen3.Type.ACK, session=self.session, ack=self.received + frames
                )
            packets.append((self._encode(command, self.sent, self.received), ack_after))
            self.received += frames if self.protocol == 3 else 0
        self._script = iter(packets)
        return length

    def exchange(self) -> None:
        """Send the next prepared command and receive its whole answer."""
        packet, ack_after = next(self._script)
        sock = self.sock
        sock.sendall(packet)
        view = memoryview(self._answer)
        got, length = 0, len(view)
        while got < length:
            n = sock.recv_into(view[got:])
            if not n:
                raise EOFError(f"the simulator closed after {got} of {length} bytes")
            got += n
        if ack_after:
            sock.sendall(ack_after)

    def exchange_checked(self) -> None:
        """`exchange`, with a CRC-32 (`crc32`) of each chunk as it lands: the least a client must
        do for a protocol whose frames carry a CRC (generation 3)."""
        packet, ack_after = next(self._script)
        sock = self.sock
        sock.sendall(packet)
        view = memoryview(self._answer)
        got, length = 0, len(view)
        crc, crc32 = 0, self.crc32
        while got < length:
            n = sock.recv_into(view[got:])
            if not n:
                raise EOFError(f"the simulator closed after {got} of {length} bytes")
            crc = crc32(view[got : got + n], crc)
            got += n
        self.crc = crc
        if ack_after:
            sock.sendall(ack_after)

    def close(self) -> None:
        """Close; generation 3 ends its session first, so the simulator forgets it."""
        if self.protocol == 3:
            self.sock.sendall(gen3.encode_frame(gen3.Type.CLOSE, session=self.session))
        self.sock.close()

    # -- the probe: parses what the timed exchanges will only count ------------------------------

    def _encode(self, command: bytes, seq: int, ack: int) -> bytes:
        return encode_command(self.protocol, command, seq, ack, self.session)

    def _probe_answer(self) -> tuple[int, int]:
        """Read one answer, parsing it: its length in bytes and its number of messages."""
        if self.protocol == 1:
            record = self._recv(gen1.RECORD_SIZE)
            if not record.startswith(b"DA "):
                return gen1.RECORD_SIZE, 1
            size = int(record.split()[1])
            self._recv(size)
            return gen1.RECORD_SIZE + size, 2
        if self.protocol == 2:
            header = gen2.decode_header(self._recv(gen2.HEADER_SIZE))
            text = self._recv(header.length)
            if not text.startswith(b"FRAME "):
                return gen2.HEADER_SIZE + header.length, 1
            data_header = gen2.decode_header(self._recv(gen2.HEADER_SIZE))
            self._recv(data_header.length)
            return 2 * gen2.HEADER_SIZE + header.length + data_header.length, 2
        reply = self._frame3()
        self.received += 1
        if not reply.payload.startswith(b"FRAME "):
            return gen3.HEADER_SIZE + len(reply.payload), 1
        data = self._frame3()
        self.received += 1
        self.sock.sendall(gen3.encode_frame(gen3.Type.ACK, session=self.session, ack=self.received))
        return 2 * gen3.HEADER_SIZE + len(reply.payload) + len(data.payload), 2

    def _frame3(self) -> gen3.Frame3:
        header = gen3.decode_header(self._recv(gen3.HEADER_SIZE))
        payload = self._recv(header.length)
        return gen3.Frame3(
            header.type, header.flags, header.session, header.seq, header.ack, payload
        )

    def _recv(self, size: int) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            n = self.sock.recv_into(view[got:])
            if not n:
                raise EOFError(f"the simulator closed after {got} of {size} bytes")
            got += n
        return buffer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("protocol", type=int, choices=(1, 2, 3))
    parser.add_argument("count", type=int)
    parser.add_argument("seed", type=int)
    args = parser.parse_args()
    with ExitStack() as stack:
        for index in range(args.count):
            sim = stack.enter_context(Simulator(protocol=args.protocol, seed=args.seed + index))
            print(sim.hostname)
        print(_READY, flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
