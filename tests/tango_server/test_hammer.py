"""Many clients hammering one device: 8 threads and 2 processes, each with its own DeviceProxy.

For a few seconds they mix text commands, SendReceive and attribute reads. No deadlock (every
client finishes within a bound), every reply belongs to the command that asked for it (no
interleaving between clients), and the only errors are the documented ones for a shared link.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator

from .conftest import wait_until
from .devices import device_server

SECONDS = 5.0
THREADS = 8
PROCESSES = 2
#: Beyond the hammering itself: start-up of the spawned processes, and the last calls' timeouts.
SLACK = 30.0
#: What a client may get when the link is taken by another one.
ALLOWED = frozenset({"CCDPC_Busy", "CCDPC_Timeout"})

Tally = tuple[dict[str, int], dict[str, int], list[str]]


def _status(dev: tango.DeviceProxy) -> str:
    reply = str(dev.Command("STATUS"))
    return (
        ""
        if reply.split(" ", maxsplit=1)[0] in ("IDLE", "EXPOSING", "READING")
        else f"STATUS: {reply!r}"
    )


def _temp(dev: tango.DeviceProxy) -> str:
    reply = str(dev.Command("TEMP"))
    try:
        celsius = float(reply)
    except ValueError:
        return f"TEMP: {reply!r}"
    return "" if -70 < celsius < -50 else f"TEMP: {reply!r}"


def _ident(dev: tango.DeviceProxy) -> str:
    reply = bytes(dev.SendReceive(b"IDENT"))
    return "" if reply.startswith(b"KAPPACCD-SIM ") else f"IDENT: {reply!r}"


def _attributes(dev: tango.DeviceProxy) -> str:
    values = dev.read_attributes(["ProtocolVersion", "PacketsSent", "Temperature", "State"])
    version, sent, temperature, state = (value.value for value in values)
    if version not in (1, 2, 3) or sent < 0:
        return f"attributes: version {version!r}, packets sent {sent!r}"
    if temperature is not None and not -70 < temperature < -50:
        return f"attributes: temperature {temperature!r}"
    return "" if state in (DevState.ON, DevState.RUNNING, DevState.ALARM) else f"State {state}"


OPERATIONS: dict[str, Callable[[tango.DeviceProxy], str]] = {
    "STATUS": _status,
    "TEMP": _temp,
    "IDENT": _ident,
    "attributes": _attributes,
}


def hammer(trl: str, seconds: float, seed: int) -> Tally:
    """One client's run: (successes by operation, errors by reason, problems found)."""
    dev = tango.DeviceProxy(trl)
    dev.set_timeout_millis(3000)
    rng = random.Random(seed)
    names = sorted(OPERATIONS)
    done: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    problems: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        name = rng.choice(names)
        try:
            problem = OPERATIONS[name](dev)
        except tango.DevFailed as exc:
            why = str(exc.args[0].reason)
            errors[why] += 1
            if why not in ALLOWED:
                problems.append(f"{name}: {why}: {exc.args[0].desc}")
            continue
        if problem:
            problems.append(problem)
        else:
            done[name] += 1
    return dict(done), dict(errors), problems


@pytest.fixture(scope="module", params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def pc(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, tango.DeviceProxy]]:
    with Simulator(protocol=request.param) as sim, device_server({"Host": sim.hostname}) as dev:
        wait_until(lambda: dev.State() == DevState.ON, what="ON after start")
        yield sim, dev


def test_many_clients(pc: tuple[Simulator, tango.DeviceProxy]) -> None:
    sim, dev = pc
    trl = f"tango://{dev.get_dev_host()}:{dev.get_dev_port()}/{dev.dev_name()}#dbase=no"
    spawn = multiprocessing.get_context("spawn")
    deadline = time.monotonic() + SECONDS + SLACK
    with (
        spawn.Pool(PROCESSES) as pool,
        concurrent.futures.ThreadPoolExecutor(THREADS) as threads,
    ):
        in_processes = [pool.apply_async(hammer, (trl, SECONDS, 100 + i)) for i in range(PROCESSES)]
        in_threads = [threads.submit(hammer, trl, SECONDS, i) for i in range(THREADS)]
        tallies = [f.result(timeout=max(0.0, deadline - time.monotonic())) for f in in_threads]
        tallies += [r.get(timeout=max(0.0, deadline - time.monotonic())) for r in in_processes]
    done: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    problems: list[str] = []
    for client_done, client_errors, client_problems in tallies:
        done.update(client_done)
        errors.update(client_errors)
        problems += client_problems
    print(f"gen{sim.protocol}: {dict(done)}; errors {dict(errors)}")
    assert problems == []
    assert all(done[name] > 0 for name in OPERATIONS), done
    assert sum(done.values()) > 10 * sum(errors.values())
    wait_until(lambda: dev.State() == DevState.ON, 5, "ON after the hammering")
    assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
