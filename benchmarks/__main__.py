"""``python -m benchmarks [--quick]``: run the benchmarks, print the table, write RESULTS.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import transport
from .harness import table, write_results

SUITES = {"transport": transport.run}


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
        write_results(results, args.output)


if __name__ == "__main__":
    main()
