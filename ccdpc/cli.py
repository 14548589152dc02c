"""The ``ccdpc`` command: talk to a control PC from a shell (driver only, no Tango).

    ccdpc probe HOST[:PORT]                  generation, class, versions, round-trip latency
    ccdpc cmd HOST TEXT...                   one text command, its reply on stdout
    ccdpc acquire HOST -s S -b B -o F.kcd    expose, read, save, with a progress bar
    ccdpc acquire HOST -n 20 -o run/f.h5     a series of 20 frames in one NeXus file (h5py)
    ccdpc trace HOST [TEXT...]               hexdump of every packet, until Ctrl-C

Exit codes: 0 done, 1 the PC refused a command, 2 bad usage, 3 the link failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .detector import Detector, DetectorState, DetectorStatus
from .errors import CommandError, error
from .factory import CCDPC
from .files import save_frame
from .image import Frame
from .messages import Data

__all__ = ["main"]

EXIT_REFUSED, EXIT_USAGE, EXIT_LINK, EXIT_INTERRUPTED = 1, 2, 3, 130


def probe(args: argparse.Namespace, out: TextIO) -> None:
    start = time.perf_counter()
    with CCDPC(args.host, connecttimeout=args.timeout) as pc:
        connect = time.perf_counter() - start
        ident = pc.command("IDENT")
        times = []
        for _ in range(args.count):
            begin = time.perf_counter()
            pc.command("STATUS")
            times.append(time.perf_counter() - begin)
        print(f"host        {pc.host}:{pc.port}", file=out)
        print(f"generation  {pc.protocol_version} ({type(pc).__name__})", file=out)
        print(f"protocol    {pc.server_version}", file=out)
        print(f"ident       {ident}", file=out)
        print(f"connect     {connect * 1000:.2f} ms", file=out)
        print(
            f"latency     {statistics.median(times) * 1e6:.0f} us (median of {args.count} STATUS)",
            file=out,
        )


def cmd(args: argparse.Namespace, out: TextIO) -> None:
    with CCDPC(args.host, connecttimeout=args.timeout) as pc:
        print(pc.command(" ".join(args.text)), file=out)


def acquire(args: argparse.Namespace, out: TextIO) -> None:
    if args.frames < 1:
        raise ValueError(f"-n {args.frames}: a series has at least one frame")
    outputs = Outputs(args.output, args.frames, args.overwrite)
    bar = ProgressBar(sys.stderr)
    with CCDPC(args.host, connecttimeout=args.timeout) as pc, outputs:
        detector = Detector(pc)
        size = (1242 // args.binning) * (1152 // args.binning) * 2
        frames = detector.series(
            args.frames, args.seconds, args.binning, args.latency, lend=True,
            on_status=lambda status: bar.show(status, f"{bar.frame}/{args.frames} "),
        )  # fmt: skip
        for index in range(args.frames):
            bar.frame = index + 1
            bar.start = pc.counters.bytes_received
            pc.idletask = lambda: bar.transfer(pc.counters.bytes_received - bar.start, size)
            frame = next(frames)
            pc.idletask = None
            bar.transfer(size, size)
            bar.done()
            path = outputs.save(index, frame)
    low, high, mean = frame.statistics()
    many = f"{args.frames} frames, last " if args.frames > 1 else ""
    print(
        f"{many}{frame.width}x{frame.height} binning {frame.binning}, {args.seconds:g} s: "
        f"min {low} max {high} mean {mean:.1f} -> {path}",
        file=out,
    )


class Outputs:
    """Where `acquire` saves: one ``.h5`` file for all frames (h5py imported only then), or a
    ``.kcd``/``.npy`` file per frame, named by ``{}`` in the name (``frame_{:04d}.kcd``), else
    by a number added before the suffix when there are several frames."""

    def __init__(self, output: str, frames: int, overwrite: bool) -> None:
        self.output, self.frames, self.overwrite = output, frames, overwrite
        self.hdf5 = Path(output).suffix.lower() in (".h5", ".hdf5", ".nxs")
        self._writer: Any = None
        if not self.hdf5 and Path(output).suffix.lower() not in (".kcd", ".npy"):
            raise ValueError(f"Cannot save frames as {output!r}: use .h5, .kcd or .npy")

    def __enter__(self) -> Outputs:
        if self.hdf5:
            from .nexus import NexusWriter  # noqa: PLC0415 - h5py only when .h5 is asked

            try:
                self._writer = NexusWriter(self.output, self.overwrite)
            except FileExistsError:
                raise ValueError(f"{self.output} exists (--overwrite replaces it)") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    def save(self, index: int, frame: Frame) -> Path:
        if self._writer is not None:
            self._writer.write(frame)
            self._writer.flush()  # complete after each frame: an interrupted run keeps them
            return Path(self.output)
        if "{" in self.output:
            name = self.output.format(index)
        elif self.frames > 1:
            path = Path(self.output)
            name = str(path.with_name(f"{path.stem}_{index:04d}{path.suffix}"))
        else:
            name = self.output
        if Path(name).exists() and not self.overwrite and self.frames > 1:
            raise ValueError(f"{name} exists (--overwrite replaces it)")
        return save_frame(frame, name)


def trace(args: argparse.Namespace, out: TextIO) -> None:
    with CCDPC(args.host, out, connecttimeout=args.timeout, debug=True) as pc:
        if args.text:
            pc.send(" ".join(args.text).encode("ascii"))
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while deadline is None or time.monotonic() < deadline:
            wait = 1.0 if deadline is None else max(min(1.0, deadline - time.monotonic()), 0)
            try:
                message = pc.receive(wait)
            except error:
                if not pc.connected:
                    raise
                continue  # nothing arrived within the second: keep listening
            if not isinstance(message, Data):
                print(f"             {type(message).__name__}: {message.text}", file=out)


class ProgressBar:
    """A one-line text bar on a terminal (stderr), redrawn on `update`."""

    def __init__(self, stream: TextIO, width: int = 40) -> None:
        self.stream, self.width = stream, width
        self.frame = self.start = 0

    def show(self, status: DetectorStatus, prefix: str = "") -> None:
        if status.state in (DetectorState.EXPOSING, DetectorState.READING):
            self.update(prefix + status.state.name.lower(), status.progress or 0.0)
        elif status.state is DetectorState.IDLE:
            self.update(prefix + "done", 1.0)

    def transfer(self, received: int, size: int) -> None:
        """The bytes of the frame in flight."""
        fraction = min(received / size, 1.0) if size else 1.0
        self.update(
            f"{self.frame} transfer", fraction, f" {received / 1e6:.2f}/{size / 1e6:.2f} MB"
        )

    def update(self, label: str, fraction: float, tail: str = "") -> None:
        filled = int(self.width * min(max(fraction, 0.0), 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{label:<10} [{bar}] {fraction * 100:5.1f}%{tail}")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ccdpc", description=__doc__.split("\n\n")[0])
    top.add_argument("--timeout", type=float, default=5.0, help="connect timeout, s")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe", help="generation, versions and latency of a control PC")
    p.add_argument("host", help="HOST or HOST:PORT")
    p.add_argument("--count", type=int, default=20, help="STATUS round trips to time")
    p.set_defaults(run=probe)
    p = sub.add_parser("cmd", help="send one text command, print the reply")
    p.add_argument("host")
    p.add_argument("text", nargs="+")
    p.set_defaults(run=cmd)
    p = sub.add_parser("acquire", help="expose, read and save a frame, or a series")
    p.add_argument("host")
    p.add_argument("-s", "--seconds", type=float, default=1.0)
    p.add_argument("-b", "--binning", type=int, choices=(1, 2), default=1)
    p.add_argument("-n", "--frames", type=int, default=1, help="frames in the series")
    p.add_argument("-l", "--latency", type=float, default=0.0, help="pause between frames, s")
    p.add_argument(
        "-o", "--output", default="frame.kcd",
        help=".kcd or .npy (a file per frame: frame_{:04d}.kcd), or .h5 (one NeXus file)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(run=acquire)
    p = sub.add_parser("trace", help="hexdump every packet until Ctrl-C")
    p.add_argument("host")
    p.add_argument("text", nargs="*", help="a command to send first")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    p.set_defaults(run=trace)
    return top


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    stream = sys.stdout if out is None else out
    try:
        args.run(args, stream)
    except (error, TimeoutError) as exc:  # before ValueError: a protocolerror is one too
        print(f"ccdpc: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_LINK
    except CommandError as exc:
        print(f"ccdpc: CommandError: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except ValueError as exc:
        print(f"ccdpc: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
