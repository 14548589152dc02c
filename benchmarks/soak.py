"""Soak: a driver connection (and optionally a Tango device) working for hours under random faults.

``python -m benchmarks.soak --seconds N [--protocol 1|2|3] [--seed S] [--tango]``

A simulator takes random injected faults (a seeded choice, each repaired after a short while); it
runs in a child process, so that its memory, descriptors and threads are not counted as the
client's; the client mixes text commands and binned frames, and reconnects as needed: a new
connection for generations 1 and 2, a session resume for generation 3. Every few seconds a line
gives the elapsed time, operations, errors by kind, RSS, open file descriptors and threads. Exit
code 0 if the RSS grew by less than 20 MB and descriptors and threads are back to their start
values (within 2) at the end, else 1. With ``--tango`` a CCDPC device (in a server process of its
own, on a second simulator that takes the same faults) is driven alongside.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import psutil  # type: ignore[import-untyped]

import ccdpc
from ccdpc.sim import Simulator

__all__ = ["main", "soak"]

MB = 1024 * 1024
MAX_RSS_GROWTH = 20.0
SLACK = 2
#: Driver timeouts (s): short, so that a stalled reply costs little of the run.
TIMEOUT = 1.0
FAULTS = {
    1: ("close-mid", "stall-mid", "garbage", "reset"),
    2: ("close-mid", "stall-mid", "garbage", "reset"),
    3: ("close-mid", "stall-mid", "garbage", "reset", "drop-session"),
}
FAULT_EVERY = 1.5
FAULT_FOR = 0.3
RECONNECT_FOR = 10.0
SETTLE_FOR = 10.0
START_TIMEOUT = 30.0


class Simulators:
    """Simulators in a child process, told their faults over a pipe; closing the pipe ends them."""

    def __init__(self, protocol: int, seed: int, count: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._pipe, child = spawn.Pipe()
        self._process = spawn.Process(
            target=_serve, args=(protocol, seed, count, child), daemon=True
        )
        self._process.start()
        child.close()
        if not self._pipe.poll(START_TIMEOUT):
            self.close()
            raise RuntimeError(f"simulators not ready within {START_TIMEOUT:g} s")
        self.hostnames: list[str] = self._pipe.recv()

    def set_faults(self, faults: list[str]) -> None:
        self._pipe.send(faults)

    def close(self) -> None:
        self._pipe.close()
        self._process.join(START_TIMEOUT)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(START_TIMEOUT)


def _serve(protocol: int, seed: int, count: int, pipe: Connection) -> None:
    with contextlib.ExitStack() as stack:
        sims = [stack.enter_context(Simulator(protocol=protocol, seed=seed)) for _ in range(count)]
        pipe.send([sim.hostname for sim in sims])
        with contextlib.suppress(EOFError):
            while True:
                faults = pipe.recv()
                for sim in sims:
                    sim.set_faults(faults)


def _usage() -> tuple[float, int, int]:
    """RSS in MB, open file descriptors, threads of this process."""
    gc.collect()
    me = psutil.Process()
    return float(me.memory_info().rss) / MB, int(me.num_fds()), int(me.num_threads())


def _connect(hostname: str) -> ccdpc.Connection:
    deadline = time.monotonic() + RECONNECT_FOR
    while True:
        try:
            return ccdpc.CCDPC(
                hostname, connecttimeout=TIMEOUT, replytimeout=TIMEOUT, packettimeout=TIMEOUT
            )
        except ccdpc.error:
            if time.monotonic() > deadline:
                raise


class Client:
    """The driver side: one connection, replaced or resumed after a failure."""

    def __init__(self, hostname: str, rng: random.Random) -> None:
        self.hostname = hostname
        self.rng = rng
        self.pc = _connect(hostname)

    def operate(self) -> None:
        """One operation chosen at random; a wrong reply raises `AssertionError`."""
        detector = ccdpc.Detector(self.pc)
        choice = self.rng.randrange(10)
        if choice < 3:
            assert detector.status().state in tuple(ccdpc.DetectorState)
        elif choice < 6:
            assert -70 < detector.temperature() < -50
        elif choice < 9:
            assert self.pc.command("IDENT").startswith("KAPPACCD-SIM ")
        else:
            frame = detector.acquire(0.0, 2, timeout=5.0)
            assert (frame.width, frame.height) == (621, 576)

    def recover(self) -> None:
        """After a link failure: resume a generation 3 session, else connect again."""
        if isinstance(self.pc, ccdpc.CCDPC3):
            with contextlib.suppress(ccdpc.error):
                self.pc.resume(RECONNECT_FOR)
                return
        with contextlib.suppress(ccdpc.error):
            self.pc.close(TIMEOUT)
        self.pc = _connect(self.hostname)

    def close(self) -> None:
        with contextlib.suppress(ccdpc.error):
            self.pc.close(TIMEOUT)


@contextlib.contextmanager
def _device(hostname: str) -> Iterator[Any]:
    """A CCDPC device on `hostname` in a server process started by a forkserver (not forked: a
    forked child would keep this process's sockets, the simulators' listeners among them)."""
    from tango.test_context import DeviceTestContext  # type: ignore[import-untyped]  # noqa: PLC0415

    from tango_server import CCDPC  # noqa: PLC0415

    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("forkserver", force=True)
    try:
        context = DeviceTestContext(CCDPC, properties={"Host": hostname}, process=True, debug=0)
        proxy = context.__enter__()
    finally:
        multiprocessing.set_start_method(previous, force=True)
    try:
        yield proxy
    finally:
        context.__exit__(None, None, None)


def _kind(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    reason = getattr(args[0], "reason", None) if args else None
    return str(reason) if reason else type(exc).__name__


def soak(  # noqa: PLR0915 - one loop, read top to bottom
    seconds: float, protocol: int, seed: int, report: float, tango: bool
) -> int:
    """Run the soak; print progress lines and a summary; the exit code."""
    rng = random.Random(seed)
    faults = FAULTS[protocol]
    errors: Counter[str] = Counter()
    operations = recovered = injected = 0
    with contextlib.ExitStack() as stack:
        sims = Simulators(protocol, seed, 2 if tango else 1)
        stack.callback(sims.close)
        device_call: Callable[[], object] | None = None
        if tango:
            dev = stack.enter_context(_device(sims.hostnames[1]))
            device_call = lambda: dev.Command(rng.choice(("STATUS", "TEMP")))  # noqa: E731
        client = Client(sims.hostnames[0], rng)
        client.operate()  # the first frame's buffers, the threads' stacks: before the start
        start = time.monotonic()
        rss0, fds0, threads0 = _usage()
        print(f"soak: protocol {protocol}, seed {seed}, {seconds:g} s; rss {rss0:.1f} MB, "
              f"fds {fds0}, threads {threads0}", flush=True)  # fmt: skip
        next_fault = start + FAULT_EVERY
        repair_at, next_report = float("inf"), start + report
        failing = device_failing = False
        while (now := time.monotonic()) < start + seconds:
            if now >= next_fault:
                fault = rng.choice(faults)
                sims.set_faults([fault])
                injected += 1
                next_fault, repair_at = now + FAULT_EVERY, now + FAULT_FOR
            if now >= repair_at:
                sims.set_faults([])
                repair_at = float("inf")
            try:
                client.operate()
            except (ccdpc.error, ccdpc.CommandError, TimeoutError, AssertionError) as exc:
                errors[_kind(exc)] += 1
                failing = True
                if isinstance(exc, ccdpc.error):
                    client.recover()
            else:
                operations += 1
                recovered += failing
                failing = False
            if device_call is not None:
                try:
                    device_call()
                except Exception as exc:  # a DevFailed (tango is imported only with --tango)
                    if type(exc).__name__ != "DevFailed":
                        raise
                    errors[f"device {_kind(exc)}"] += 1
                    device_failing = True
                else:
                    operations += 1
                    recovered += device_failing
                    device_failing = False
            if now >= next_report:
                rss, fds, threads = _usage()
                print(f"{now - start:8.1f} s  ops {operations}  errors {dict(errors)}  "
                      f"recovered {recovered}  rss {rss:.1f} MB  fds {fds}  threads {threads}",
                      flush=True)  # fmt: skip
                next_report = now + report
        sims.set_faults([])
        # Settle: the last failure's connections close in the background; bounded.
        deadline = time.monotonic() + SETTLE_FOR
        while True:
            client.operate()
            rss, fds, threads = _usage()
            settled = abs(fds - fds0) <= SLACK and abs(threads - threads0) <= SLACK
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        client.close()
    growth = rss - rss0
    ok = growth < MAX_RSS_GROWTH and settled
    print(f"summary: {time.monotonic() - start:.1f} s, {operations} operations, "
          f"{sum(errors.values())} errors {dict(errors)}, {injected} faults injected, "
          f"{recovered} recovered faults, RSS growth {growth:+.1f} MB, fds {fds0} -> {fds}, "
          f"threads {threads0} -> {threads}: {'OK' if ok else 'FAIL'}", flush=True)  # fmt: skip
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3600.0, help="run time (default 3600)")
    parser.add_argument("--protocol", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=float, default=5.0, help="seconds between lines")
    parser.add_argument("--tango", action="store_true", help="drive a CCDPC device as well")
    args = parser.parse_args(argv)
    return soak(args.seconds, args.protocol, args.seed, args.report, args.tango)


if __name__ == "__main__":
    sys.exit(main())
