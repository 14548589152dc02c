"""``ccdpc-sim``: run the simulated control PC until Ctrl-C or SIGTERM.

The first line printed is ``ccdpc-sim listening on HOST:PORT (protocol N)``, flushed at once, so a
parent process can read the port chosen for ``--port 0``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .. import config
from .faults import DESCRIPTIONS, FAULTS
from .server import Simulator

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    faults = "; ".join(f"{name}: {text}" for name, text in DESCRIPTIONS.items())
    parser = argparse.ArgumentParser(
        prog="ccdpc-sim", description="Simulated control PC of a KappaCCD-style detector."
    )
    parser.add_argument("--protocol", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=config.port, help=f"0 picks a free port (default {config.port})"
    )
    parser.add_argument(
        "--fault", action="append", default=[], choices=FAULTS, metavar="NAME", help=faults
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minor", type=int, default=0, help="minor version in the greeting")
    parser.add_argument("--drop-after", type=int, default=None, help="bytes, for drop-session")
    parser.add_argument(
        "--drop-random",
        action="store_true",
        help="drop-session: cut each connection at a random point up to --drop-after",
    )
    parser.add_argument("--trickle-delay", type=float, default=0.0005, help="seconds, for trickle")
    parser.add_argument("--slow-chunk", type=int, default=1460, help="bytes per chunk, for slow")
    parser.add_argument(
        "--slow-delay", type=float, default=0.002, help="seconds between chunks, for slow"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; exit status 0 after SIGINT or SIGTERM, 2 for bad arguments."""
    args = _parser().parse_args(argv)
    try:
        sim = Simulator(
            protocol=args.protocol,
            host=args.host,
            port=args.port,
            faults=args.fault,
            seed=args.seed,
            minor=args.minor,
            drop_after=args.drop_after,
            drop_random=args.drop_random,
            trickle_delay=args.trickle_delay,
            slow_chunk=args.slow_chunk,
            slow_delay=args.slow_delay,
        )
    except ValueError as exc:
        print(f"ccdpc-sim: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        sim.start()
    except OSError as exc:
        print(f"ccdpc-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"ccdpc-sim listening on {sim.hostname} (protocol {args.protocol})", flush=True)
        # A timed wait, so the main thread runs the signal handlers promptly.
        while not stop.wait(0.2):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
