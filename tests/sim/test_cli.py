"""The ``ccdpc-sim`` command: first line, serving, clean exit on SIGTERM and SIGINT."""

from __future__ import annotations

import re
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ccdpc.greeting import GREETING_SIZE

from .rawclient import RawClient

PYTHON = sys.executable


def first_line(process: subprocess.Popen[bytes], timeout: float = 5.0) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no line within {timeout} s")
    return process.stdout.readline().decode("ascii").rstrip("\n")


@pytest.fixture
def run_cli() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(5)


def start(processes: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [PYTHON, "-m", "ccdpc.sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    processes.append(process)
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_its_address_serves_and_exits_cleanly(
    run_cli: list[subprocess.Popen[bytes]], signum: int
) -> None:
    process = start(run_cli, "--protocol", "2", "--seed", "42")
    line = first_line(process)
    match = re.fullmatch(r"ccdpc-sim listening on 127\.0\.0\.1:([0-9]+) \(protocol 2\)", line)
    assert match, line
    client = RawClient(int(match[1]), 2)
    assert client.greeting == b"CCDPC/2.0     \r\n"
    assert client.command("IDENT").text.startswith("KAPPACCD-SIM 000042 ")
    client.close()
    process.send_signal(signum)
    assert process.wait(5) == 0


def test_faults_from_the_command_line(run_cli: list[subprocess.Popen[bytes]]) -> None:
    process = start(run_cli, "--protocol", "1", "--fault", "wrong-version", "--fault", "trickle")
    port = int(first_line(process).split(":")[-1].split()[0])
    client = RawClient(port, 1)
    assert client.greeting == b"CCDPC/9.0     \r\n"
    client.close()
    process.terminate()
    assert process.wait(5) == 0


def test_slow_network_from_the_command_line(run_cli: list[subprocess.Popen[bytes]]) -> None:
    process = start(run_cli, "--fault", "slow", "--slow-chunk", "4", "--slow-delay", "0.05")
    port = int(first_line(process).split(":")[-1].split()[0])
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        pieces = []
        while sum(map(len, pieces)) < GREETING_SIZE:
            pieces.append(sock.recv(GREETING_SIZE))
            assert pieces[-1], "EOF"
    assert b"".join(pieces) == b"CCDPC/3.0     \r\n"
    assert len(pieces) >= GREETING_SIZE // 4 and all(len(p) <= 4 for p in pieces), pieces
    process.terminate()
    assert process.wait(5) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--fault", "nope"],
        ["--protocol", "4"],
        ["--protocol", "1", "--fault", "bad-crc"],
        ["--slow-delay", "-1"],
        ["--slow-chunk", "0"],
    ],
)
def test_bad_arguments_exit_2(run_cli: list[subprocess.Popen[bytes]], args: list[str]) -> None:
    process = start(run_cli, *args)
    assert process.wait(5) == 2
    assert process.stderr is not None
    assert process.stderr.read()
