"""``ccdpc-demo``: from nothing to a detector image in a Tango device, on loopback.

It starts the control-PC simulator, an sqlite Tango database and the ``CCDPC`` device server,
registers the device as a beamline would, runs a short session through a ``DeviceProxy`` and
prints it; then it says how to connect and keeps running until Ctrl-C (``--once``: exits). Every
child stops on the way out, on Ctrl-C, SIGTERM or an error, and the temporary folder goes too.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import tango  # type: ignore[import-untyped]

from ccdpc.sim import Simulator

from .embedded import DeviceServer, EmbeddedDatabase, register_device, wait_until
from .sardana_demo import how_to_connect_spock, sardana_session, start_sardana

__all__ = ["DEVICE", "SERVER", "TEMPERATURE_LIMITS", "Demo", "main", "running_demo"]

SERVER = "CCDPC/demo"
DEVICE = "ccdpc/demo/1"
BAR = 30
#: The CCD temperature's warning and alarm limits, as deploy/ccdpc-dsconfig.json sets them: the
#: device then gives Temperature the quality ALARM or WARNING, and the panel colours it.
TEMPERATURE_LIMITS = {"min_warning": -75, "max_warning": -45, "min_alarm": -80, "max_alarm": -40}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ccdpc-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--protocol", type=int, choices=(1, 2, 3), default=3, help="generation")
    p.add_argument("--seconds", type=float, default=0.5, help="exposure time of the demo frame")
    p.add_argument("--binning", type=int, choices=(1, 2), default=1)
    p.add_argument("--data-dir", type=Path, help="keep the database, logs and frames here")
    p.add_argument("--once", action="store_true", help="exit after the session")
    p.add_argument("--gui", action="store_true", help="open the taurus panel on the device")
    p.add_argument(
        "--sardana",
        action="store_true",
        help="also a Sardana Pool and MacroServer: ct and an ascan of the detector",
    )
    return p


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def progress(out: TextIO, label: str, percent: float) -> None:
    """A bar redrawn in place on a terminal; elsewhere (a log, a pipe) only its final state."""
    if percent < 100.0 and not out.isatty():
        return
    filled = int(BAR * min(max(percent, 0.0), 100.0) / 100)
    out.write(f"\r  {label:<22} [{'#' * filled}{'-' * (BAR - filled)}] {percent:5.1f}%")
    out.flush()


def session(dev: Any, args: argparse.Namespace, folder: Path, out: TextIO) -> Path:
    """The scripted session: what a user would do first. Returns the saved frame's path."""
    print(f"device {DEVICE}: State {dev.State()}, {dev.Status().splitlines()[0]}", file=out)
    print(
        f"  ProtocolVersion {dev.ProtocolVersion} ({dev.ProtocolClass}), "
        f"ServerVersion {dev.ServerVersion}",
        file=out,
    )
    print(f"  IDENT           {dev.Command('IDENT')}", file=out)
    print(f"  Temperature     {dev.Temperature:.1f} degC", file=out)
    dev.Binning = args.binning
    before = dev.FrameNumber
    dev.Acquire(args.seconds)
    label = f"acquire {args.seconds:g} s, bin {args.binning}"
    deadline = time.monotonic() + args.seconds + 30
    while dev.FrameNumber == before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no frame within {args.seconds + 30:g} s: {dev.Status()}")
        if dev.State() == tango.DevState.FAULT:
            raise RuntimeError(f"the device failed: {dev.Status()}")
        progress(out, label, dev.Progress)
        time.sleep(0.05)
    progress(out, label, 100.0)
    out.write("\n")
    frame = dev.Frame
    print(
        f"  frame {dev.FrameNumber}: {dev.FrameWidth} x {dev.FrameHeight}, "
        f"min {frame.min()}, max {frame.max()}, mean {frame.mean():.1f}",
        file=out,
    )
    saved = Path(dev.SaveFrame(str(folder / f"frame_{dev.FrameNumber:04d}.kcd")))
    kept = "" if args.data_dir else " (a temporary folder, removed on exit: --data-dir keeps it)"
    print(f"  saved           {saved}{kept}", file=out)
    print(f"  State {dev.State()}", file=out)
    return saved


def how_to_connect(tango_host: str, out: TextIO) -> None:
    print("\nConnect to it while this runs:", file=out)
    print(f"  export TANGO_HOST={tango_host}", file=out)
    print(f"  device   {DEVICE}  (server {SERVER})", file=out)
    print(f"  taurus   taurus form tango://{tango_host}/{DEVICE}", file=out)
    print(f"  panel    ccdpc-panel tango://{tango_host}/{DEVICE}", file=out)
    print(
        f"  python   tango.DeviceProxy('tango://{tango_host}/{DEVICE}').Command('STATUS')",
        file=out,
    )


@dataclass
class Demo:
    """What `running_demo` started: the simulator, the database, the server and a proxy."""

    folder: Path
    sim: Simulator
    database: EmbeddedDatabase
    server: DeviceServer
    device: Any


@contextmanager
def running_demo(protocol: int, folder: Path, out: TextIO | None = None) -> Iterator[Demo]:
    """Simulator, database and device server on loopback, the device ON; all stopped after."""

    def say(text: str) -> None:
        if out is not None:
            print(text, file=out)

    with ExitStack() as stack:
        sim = stack.enter_context(Simulator(protocol=protocol, port=0, seed=2026))
        say(f"simulator        protocol {protocol} on {sim.hostname}")
        database = EmbeddedDatabase(folder)
        stack.callback(database.stop)
        database.start()
        say(f"Tango database   {database.tango_host} ({folder / 'tango_database.db'})")
        register_device(
            database.tango_host,
            SERVER,
            "CCDPC",
            DEVICE,
            {"Host": sim.host, "Port": sim.port, "DataFolder": folder},
        )
        host, port = database.tango_host.rsplit(":", 1)
        tango.Database(host, int(port)).put_device_attribute_property(
            DEVICE, {"Temperature": {k: [str(v)] for k, v in TEMPERATURE_LIMITS.items()}}
        )
        server = DeviceServer("demo", database.tango_host, folder)
        stack.callback(server.stop)
        server.start()
        device = server.wait_for(DEVICE)
        wait_until(lambda: device.State() == tango.DevState.ON, 30, "device ON")
        say(f"device server    {SERVER} (log {server.log_path})\n")
        yield Demo(folder, sim, database, server, device)


def run(args: argparse.Namespace, out: TextIO) -> int:
    with ExitStack() as stack:
        if args.data_dir is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ccdpc-demo-")))
        else:
            folder = args.data_dir.resolve()
            folder.mkdir(parents=True, exist_ok=True)
        demo = stack.enter_context(running_demo(args.protocol, folder, out))
        session(demo.device, args, folder, out)
        sardana = None
        if args.sardana:
            tango_host = demo.database.tango_host
            sardana = stack.enter_context(start_sardana(tango_host, DEVICE, folder, out))
            sardana_session(sardana, args.seconds, out)
        how_to_connect(demo.database.tango_host, out)
        if sardana is not None:
            how_to_connect_spock(demo.database.tango_host, sardana, out)
        if args.gui:
            trl = f"tango://{demo.database.tango_host}/{DEVICE}"
            panel = subprocess.Popen([sys.executable, "-m", "tango_server.tools.panel", trl])
            stack.callback(panel.terminate)
        if not args.once:
            print("\nRunning; Ctrl-C stops everything.", file=out)
            threading.Event().wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    os.environ.pop("TANGO_HOST", None)  # the demo's database, never a facility's
    try:
        return run(args, sys.stdout)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stdout)
        return 0
    except (RuntimeError, TimeoutError, OSError, tango.DevFailed) as exc:
        print(f"ccdpc-demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
