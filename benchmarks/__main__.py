"""``python -m benchmarks [--quick]``: run the benchmarks, print the table, write RESULTS.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import device, driver, memory, prefilled, sardana_ct, scaling, series, transport
from .harness import table, write_results

NOTE = """\
How: every simulator runs in a child process (`benchmarks.peers`), as the detector's PC is another
machine; baseline and project talk to the same one, in alternating rounds, and each figure is a
median. Raw baselines are a blocking socket sending precomputed packets and receiving the known
answer length (`peers.RawPeer`); the Tango baseline is `device.BareDevice`, a command returning a
preallocated array. Times: lower is better; rates: higher is better. Where baseline and project
take turns in rounds, the ratio is the median of the rounds' ratios (a slow spell of the machine
cancels within a round), and in brackets is their middle half (first to third quartile): how much
a ratio moves between rounds here. `read_frame` is measured
into a new buffer per frame (the default) and into one lent buffer (`into=`), as the raw side
receives. The 16-device rows stream two ways: saturated (every client as fast as it can: one
device alone fills the cores, so 16 get a share each) and paced at a detector's rate (whether one
server keeps up with 16 detectors), with the detectors on one trigger (all fetches start together:
the worst case) or free-running (each on its own clock: random phases, the same in every run). The
"16 bare PyTango devices" rows have no target: they show how PyTango itself scales on this machine,
and, paced on one trigger, the least any device's fetch can take when 16 start together."""

SUITES = {
    "transport": transport.run,
    "driver": driver.run,
    "prefilled": prefilled.run,
    "device": device.run,
    "memory": memory.run,
    "scaling": scaling.run,
    "series": series.run,
    "sardana": sardana_ct.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    results = []
    for name in args.only or SUITES:
        results += SUITES[name](quick=args.quick)
    print(table(results))
    if not args.quick:
        write_results(results, args.output, NOTE)


if __name__ == "__main__":
    main()
