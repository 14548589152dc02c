"""The taurus panel, rendered headless against the demo's database: it must show the device's
real values and the frame. The screenshot is saved; with CCDPC_UPDATE_SCREENSHOT=1 it also
replaces docs/img/panel.png, the one the deployment guide shows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import tango  # type: ignore[import-untyped]

from tango_server.tools.demo import DEVICE, running_demo
from tango_server.tools.embedded import wait_until

DOC_IMAGE = Path(__file__).resolve().parents[3] / "docs" / "img" / "panel.png"


def test_panel_shows_the_device(tmp_path: Path) -> None:
    with running_demo(3, tmp_path) as demo:
        dev = demo.device
        dev.Acquire(0.05)
        wait_until(lambda: dev.FrameNumber == 1, 30, "the first frame")
        wait_until(lambda: dev.State() == tango.DevState.ON, 30, "State ON after the frame")
        png = tmp_path / "panel.png"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tango_server.tools.panel",
                f"tango://{demo.database.tango_host}/{DEVICE}",
                "--screenshot",
                str(png),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        shown = json.loads(done.stdout.strip().splitlines()[-1])
        assert shown["ProtocolVersion"] == "3"
        assert shown["ProtocolClass"] == "CCDPC3"
        assert shown["ServerVersion"] == "3.0"
        assert shown["State"] == "ON"
        assert shown["ConnectionState"] == "CONNECTED"
        assert shown["DetectorState"] == "IDLE"
        assert shown["FrameNumber"] == "1"
        assert shown["Reconnects"] == "0"
        assert shown["Status"].startswith("Connected to ")
        assert shown["Temperature"].startswith("-")
        assert int(shown["BytesReceived"].split()[0]) >= 1242 * 1152 * 2
        assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CCDPC_UPDATE_SCREENSHOT") == "1":
        DOC_IMAGE.parent.mkdir(exist_ok=True)
        shutil.copyfile(png, DOC_IMAGE)
