"""The soak script (`benchmarks/soak.py`) for 30 s: it runs, survives its faults, and passes."""

from __future__ import annotations

import re
import subprocess
import sys

from benchmarks.peers import ROOT

SECONDS = 30
#: Beyond the run itself: start-up, the final settling and shutdown.
SLACK = 60


def test_soak_30_seconds() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--seconds", str(SECONDS), "--report", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SECONDS + SLACK,
        check=False,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = re.search(r"^summary: .* (\d+) operations, .* (\d+) recovered faults,.*: OK$",
                        run.stdout, re.MULTILINE)  # fmt: skip
    assert summary is not None, run.stdout
    operations, recovered = (int(group) for group in summary.groups())
    assert operations > 0
    assert recovered > 0
    assert len(re.findall(r"^ +\d+\.\d s  ops ", run.stdout, re.MULTILINE)) >= 3
