"""Many clients, one device: each client process gets exactly its own replies and data, in order,
and a client that is killed leaves nothing behind.

Three client processes interleave Send and Receive (and Command) on one device, for every
generation. Each sends commands whose replies name it (an unknown command ``C<i>N<n>`` is answered
``unknown command C<i>N<n>``), so a reply that went to the wrong client, or out of order, shows.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.pool import Pool

import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator

from .conftest import wait_until
from .devices import device_server, drain

CLIENTS = 3
ROUNDS = 12
#: A binned frame: 621 x 576 pixels of 2 bytes.
FRAME_REPLY, FRAME_BYTES = b"FRAME 621 576", 621 * 576 * 2
SLACK = 60.0


def _trl(dev: tango.DeviceProxy) -> str:
    return f"tango://{dev.get_dev_host()}:{dev.get_dev_port()}/{dev.dev_name()}#dbase=no"


def _send(dev: tango.DeviceProxy, rng: random.Random, me: int, n: int) -> list[object]:
    """Send one command; return what Receive must give for it, in order (bytes, or the text an
    error reply's DevFailed carries)."""
    kind = rng.choice(["IDENT", "TEMP", "SHUTTER", "NAMED", "NAMED", "READ"])
    if kind == "READ":
        dev.Send(b"READ")
        return [FRAME_REPLY, FRAME_BYTES]
    if kind == "NAMED":
        dev.Send(f"C{me}N{n}".encode("ascii"))
        return [f"unknown command C{me}N{n}"]
    if kind == "SHUTTER":
        position = rng.choice(["OPEN", "CLOSE"])
        dev.Send(f"SHUTTER {position}".encode("ascii"))
        return [b"SHUTTER OPEN" if position == "OPEN" else b"SHUTTER CLOSED"]
    dev.Send(kind.encode("ascii"))
    return [b"KAPPACCD-SIM " if kind == "IDENT" else b"-"]


def _matches(expected: object, dev: tango.DeviceProxy) -> str:
    """Receive one message and compare; "" when it is the one expected."""
    try:
        got = bytes(dev.Receive(2000))
    except tango.DevFailed as exc:
        error = exc.args[0]
        if isinstance(expected, str) and error.reason == "CCDPC_CommandFailed":
            return "" if error.desc == expected else f"got error {error.desc!r}, not {expected!r}"
        return f"got {error.reason}: {error.desc}, expecting {expected!r}"
    if isinstance(expected, int):
        return "" if len(got) == expected else f"got {len(got)} bytes, expecting {expected}"
    if isinstance(expected, bytes) and got.startswith(expected):
        return ""
    return f"got {got[:60]!r}, expecting {expected!r}"


def converse(trl: str, me: int, rounds: int) -> tuple[int, list[str]]:
    """One client: rounds of 1-3 Sends (and now and then a Command), then their Receives.
    Returns (messages received as expected, problems)."""
    dev = tango.DeviceProxy(trl)
    dev.set_timeout_millis(3000)
    rng = random.Random(me)
    good, problems, n = 0, [], 0
    for _ in range(rounds):
        expected: deque[object] = deque()
        for _ in range(rng.randint(1, 3)):
            n += 1
            expected += _send(dev, rng, me, n)
            if rng.random() < 0.3:  # a Command between: its reply comes back at once, as ever
                reply = dev.Command("IDENT")
                if not reply.startswith("KAPPACCD-SIM "):
                    problems.append(f"Command IDENT: {reply!r}")
        while expected:
            problem = _matches(expected.popleft(), dev)
            if problem:
                problems.append(problem)
            else:
                good += 1
        if dev.PendingPackets != 0:
            problems.append(f"{dev.PendingPackets} pending after all my replies")
    return good, problems


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    """The client processes, started once for every generation."""
    with multiprocessing.get_context("spawn").Pool(CLIENTS) as processes:
        yield processes


@pytest.fixture(scope="module", params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def dev(request: pytest.FixtureRequest) -> Iterator[tango.DeviceProxy]:
    """A device with a binned frame taken, so that READ has one to send."""
    with Simulator(protocol=request.param) as sim, device_server({"Host": sim.hostname}) as proxy:
        wait_until(lambda: proxy.State() == DevState.ON, what="ON after start")
        proxy.Binning = 2
        proxy.Acquire(0)
        wait_until(lambda: proxy.FrameNumber == 1, 10, "a frame")
        yield proxy


def test_each_client_gets_its_own_replies_in_order(pool: Pool, dev: tango.DeviceProxy) -> None:
    trl = _trl(dev)
    deadline = time.monotonic() + SLACK
    runs = [pool.apply_async(converse, (trl, me, ROUNDS)) for me in range(CLIENTS)]
    results = [run.get(timeout=max(0.0, deadline - time.monotonic())) for run in runs]
    assert [problems for _, problems in results] == [[]] * CLIENTS
    assert all(good >= ROUNDS for good, _ in results), results
    assert dev.PendingPackets == 0  # this client never received: it has nothing


_KILLED = """
import sys, time, tango
dev = tango.DeviceProxy(sys.argv[1])
for n in range(4):
    dev.Send(b"READ")
dev.Receive(2000)  # the first reply; three frames' data and more still to come
print("streaming", flush=True)
time.sleep(60)
"""


def _waiting(dev: tango.DeviceProxy, who: str) -> int:
    """Messages waiting for the client whose line in Receivers has `who` (0: it has none)."""
    for line in dev.Receivers:
        if who in line:
            return int(line.split(who)[1].split()[0])
    return 0


def test_a_killed_client_leaves_nothing_behind(dev: tango.DeviceProxy) -> None:
    drain(dev)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED, _trl(dev)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "streaming\n"
        mine = f"pid {child.pid}:"
        wait_until(lambda: _waiting(dev, mine) > 0, what="messages waiting for it")
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        wait_until(lambda: not any(mine in line for line in dev.Receivers), what="inbox dropped")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        if child.stdout is not None:
            child.stdout.close()
    dev.Send(b"EXPOSE 0 2")  # its events go to every receiver: none is for the dead client
    assert bytes(dev.Receive(2000)).startswith(b"EXPOSING")
    wait_until(lambda: dev.Command("STATUS").startswith("IDLE"), what="exposed and read out")
    assert not any(mine in line for line in dev.Receivers)  # nothing came back for it
    assert dev.PendingPackets == _waiting(dev, f"pid {os.getpid()}:")  # the exposure's events


def test_an_idle_client_loses_its_inbox_after_receiver_timeout() -> None:
    with (
        Simulator(protocol=2) as sim,
        device_server({"Host": sim.hostname, "ReceiverTimeout": 1.0}) as dev,
    ):
        wait_until(lambda: dev.State() == DevState.ON, what="ON after start")
        dev.Send(b"IDENT")
        wait_until(lambda: dev.PendingPackets == 1, what="the reply waiting")  # a call, too
        mine = f"pid {os.getpid()}:"  # reading Receivers is no call of this client's: it goes
        wait_until(lambda: not any(mine in line for line in dev.Receivers), 10, "inbox dropped")
        assert dev.PendingPackets == 0
        assert "dropped" not in dev.LastError  # a notice, not an error
