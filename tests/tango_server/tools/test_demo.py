"""``ccdpc-demo`` end to end, as the README runs it: exit code, what it prints, the saved frame,
and nothing left running afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import fabio  # type: ignore[import-untyped]
import numpy
import psutil

from ccdpc.sim import synthetic_frame

DEMO = [sys.executable, "-m", "tango_server.tools.demo"]


def leftovers(folder: Path, tango_host: str) -> list[str]:
    """Processes the demo started that still run: its database and its device server."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            env = process.environ()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if env.get("PYTANGO_DATABASE_NAME", "").startswith(str(folder)) or (
            tango_host and env.get("TANGO_HOST") == tango_host
        ):
            found.append(" ".join(process.info["cmdline"] or []))
    return found


def run_once(folder: Path, *options: str) -> str:
    """What ``ccdpc-demo --once`` (with `options`, data under `folder`) printed; it succeeded."""
    done = subprocess.run(
        [*DEMO, *options, "--once", "--seconds", "0.2", "--data-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def test_demo_once(tmp_path: Path) -> None:
    out = run_once(tmp_path)
    assert "ProtocolVersion 3 (CCDPC3), ServerVersion 3.0" in out
    assert re.search(r"IDENT +KAPPACCD-SIM \d{6} ", out)
    # The simulator drifts around -60 C (a 0.4 C sine, 120 s period): -59.x is as right.
    assert re.search(r"Temperature +-(59|60)\.\d degC", out)
    assert "100.0%" in out
    assert re.search(r"frame 1: 1242 x 1152, min \d+, max \d+, mean [\d.]+", out)
    saved = Path(re.search(r"saved +(\S+\.kcd)", out)[1])  # type: ignore[index]
    assert saved.parent == tmp_path.resolve()
    expected = numpy.frombuffer(synthetic_frame(1242, 1152, 2026, 1), "<u2").reshape(1152, 1242)
    with fabio.open(str(saved)) as image:
        assert numpy.array_equal(image.data, expected)
    tango_host = re.search(r"export TANGO_HOST=(\S+)", out)[1]  # type: ignore[index]
    assert f"taurus form tango://{tango_host}/ccdpc/demo/1" in out
    assert leftovers(tmp_path, tango_host) == []


def test_demo_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [*DEMO, "--protocol", "1", "--seconds", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert demo.stdout is not None
    lines = []
    try:
        for line in demo.stdout:  # bounded by the test's timeout
            lines.append(line)
            if line.startswith("Running; Ctrl-C"):
                break
        tango_host = next(
            line.split("=", 1)[1].strip() for line in lines if "export TANGO_HOST=" in line
        )
        assert leftovers(tmp_path, tango_host)  # they do run while the demo runs
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    assert leftovers(tmp_path, tango_host) == []
