"""The client's own cost per command: its answers already waiting, no server, no wait.

A round trip over loopback is mostly the peer and the scheduler: the driver's share of it moves
with the machine's mood (see the spread of the round-trip rows). Here the answers to a batch of
commands are sent to the client's end of a loopback connection before the clock starts, so each
command is a write and a read that never wait: what is left is the client's CPU time, the
driver's against the least a raw client does (write the prepared command, ``recv_into`` the
known length). It changes when the driver's code does, hardly with the neighbours.
"""

from __future__ import annotations

import socket
import time

import ccdpc
from ccdpc import gen1, gen2, gen3

from .harness import Result, interleaved_samples, per_call
from .peers import encode_command

__all__ = ["run"]

#: Commands per batch: the commands, which nobody reads, must fit the connection's buffers
#: (80 KB in generation 1, within the usual 128 KiB a receive buffer starts with).
BATCH = 1000
#: Seconds any socket operation may block: a batch that did not fit fails, it does not hang.
_TIMEOUT = 5.0
_WARMUP = 10
_SESSION = 7
_ANSWER = b"IDLE frames=0"
_CLASSES: dict[int, type[ccdpc.Connection]] = {
    1: ccdpc.StandardCCDPC,
    2: ccdpc.NewCCDPC,
    3: ccdpc.CCDPC3,
}


def _answers(protocol: int, count: int) -> tuple[bytes, int]:
    """What the PC would send for `count` STATUS commands (generation 3: after OPENED), and
    the length of one answer."""
    if protocol == 1:
        one = gen1.encode_reply(_ANSWER.decode())
        return one * count, len(one)
    if protocol == 2:
        answers = [gen2.encode_packet(gen2.Type.REPLY, _ANSWER, seq) for seq in range(1, count + 1)]
        return b"".join(answers), len(answers[0])
    frames = [
        gen3.encode_frame(gen3.Type.REPLY, _ANSWER, session=_SESSION, seq=seq, ack=seq)
        for seq in range(1, count + 1)
    ]
    opened = gen3.encode_frame(gen3.Type.OPENED, session=_SESSION)
    return opened + b"".join(frames), len(frames[0])


def _commands(protocol: int, count: int) -> list[bytes]:
    """STATUS `count` times, numbered from 1, each acknowledging the answer before it."""
    return [
        encode_command(protocol, b"STATUS", seq, seq - 1, _SESSION) for seq in range(1, count + 1)
    ]


def _pair(answers: bytes) -> tuple[socket.socket, socket.socket]:
    """A loopback TCP connection, Nagle off as `ccdpc` has it; `answers` already sent from the
    second end to the first."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=_TIMEOUT)
        pc, _ = listener.accept()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.settimeout(_TIMEOUT)  # as `ccdpc.CCDPC` leaves it
    pc.settimeout(_TIMEOUT)
    pc.sendall(answers)
    return client, pc


def _raw(protocol: int, number: int) -> float:
    answers, size = _answers(protocol, number + _WARMUP)
    client, pc = _pair(answers)
    try:
        if protocol == 3:
            client.recv(gen3.HEADER_SIZE)  # OPENED: the session, opened before the clock
        commands = iter(_commands(protocol, number + _WARMUP))
        view = memoryview(bytearray(size))

        def exchange() -> None:
            client.sendall(next(commands))
            got = 0
            while got < size:
                got += client.recv_into(view[got:])

        return per_call(exchange, number, _WARMUP, time.process_time)
    finally:
        client.close()
        pc.close()


def _driver(protocol: int, number: int) -> float:
    client, pc = _pair(_answers(protocol, number + _WARMUP)[0])
    try:
        connection = _CLASSES[protocol](client, "prefilled", 0, (protocol, 0))
        return per_call(lambda: connection.command("STATUS"), number, _WARMUP, time.process_time)
    finally:
        client.close()
        pc.close()


def client_cost(protocol: int, number: int, rounds: int) -> Result:
    raw, project = (
        [seconds * 1e6 for seconds in figures]
        for figures in interleaved_samples(
            lambda: _raw(protocol, number), lambda: _driver(protocol, number), rounds=rounds
        )
    )
    name = f'client CPU per command("STATUS"), answers already waiting (context), gen {protocol}'
    return Result.paired(name, "µs", raw, project, higher_is_better=False)


def run(quick: bool = False) -> list[Result]:
    number, rounds = (50, 3) if quick else (BATCH, 21)
    return [client_cost(protocol, number, rounds) for protocol in (1, 2, 3)]
