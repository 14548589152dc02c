"""The operator's panel, headless, in this process, on the demo's database, device server and
simulator: its buttons act on the real device, its view shows the device's frames, and it lives
through the device server's death. The screenshot is saved; with CCDPC_UPDATE_SCREENSHOT=1 it
also replaces docs/img/panel.png, the one the deployment guide shows."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before the application is made

import numpy
import pytest
import tango  # type: ignore[import-untyped]
from PyQt5.QtTest import QTest
from taurus.external.qt import Qt  # type: ignore[import-untyped]
from taurus.qt.qtgui.application import TaurusApplication  # type: ignore[import-untyped]

from tango_server.tools.demo import DEVICE, Demo, running_demo
from tango_server.tools.panel import CCDPCPanel, running, screenshot

DOC_IMAGE = Path(__file__).resolve().parents[3] / "docs" / "img" / "panel.png"


def settle(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Turn the Qt event loop until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except tango.DevFailed:
            pass  # the test's own proxy, while the server restarts
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        QTest.qWait(20)


def click(panel: CCDPCPanel, label: str) -> None:
    QTest.mouseClick(panel.buttons[label], Qt.Qt.LeftButton)


@pytest.fixture(scope="module")
def app() -> Any:
    return Qt.QApplication.instance() or TaurusApplication(cmd_line_parser=None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(3, tmp_path_factory.mktemp("panel")) as started:
        yield started


@pytest.fixture(scope="module")
def panel(app: Any, demo: Demo) -> Iterator[CCDPCPanel]:
    shown = CCDPCPanel(f"tango://{demo.database.tango_host}/{DEVICE}", min_period=0.2)
    shown.resize(1400, 820)
    shown.show()
    running()
    yield shown
    shown.close()


def test_acquire_shows_the_new_frame(
    app: Any, demo: Demo, panel: CCDPCPanel, tmp_path: Path
) -> None:
    dev = demo.device
    dev.ExposureTime = 0.05
    before = dev.FrameNumber
    click(panel, "Acquire")  # Acquire(-1): the ExposureTime attribute
    settle(lambda: dev.FrameNumber > before, 30, "a new frame on the device")
    settle(lambda: panel.frame.number == dev.FrameNumber, 10, "the new frame in the view")
    numpy.testing.assert_array_equal(panel.frame.data(), dev.Frame)
    assert panel.frame.data().shape == (1152, 1242)
    settle(lambda: panel.banner.state == "ON", 10, "ON in the banner after the frame")
    png = tmp_path / "panel.png"
    shown = screenshot(panel, app, str(png), 20)
    assert shown["State"] == "ON"
    assert shown["ConnectionState"] == "CONNECTED"
    assert shown["FrameNumber"] == str(dev.FrameNumber)
    assert shown["Temperature"].startswith("-")
    assert panel.banner.text().startswith("ON: Connected to ")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CCDPC_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(png, DOC_IMAGE)


def test_exposure_time_written_in_the_panel(demo: Demo, panel: CCDPCPanel) -> None:
    editor = panel.settings[0].writeWidget()  # ExposureTime
    editor.setFocus()
    editor.selectAll()
    QTest.keyClicks(editor, "0.125")
    QTest.keyClick(editor, Qt.Qt.Key_Return)
    settle(lambda: demo.device.ExposureTime == pytest.approx(0.125), 10, "ExposureTime 0.125")


def test_abort_during_an_exposure(demo: Demo, panel: CCDPCPanel) -> None:
    dev = demo.device
    dev.ExposureTime = 60.0
    click(panel, "Acquire")
    settle(lambda: dev.State() == tango.DevState.RUNNING, 10, "State RUNNING")
    settle(lambda: panel.banner.state == "RUNNING", 10, "RUNNING in the banner")
    click(panel, "Acquire")  # a second one while the first runs: refused, and said so
    settle(lambda: "Acquire refused" in panel.banner.text(), 10, "the refusal in the banner")
    click(panel, "Abort")
    settle(lambda: dev.State() == tango.DevState.ON, 10, "State ON after Abort")
    settle(lambda: panel.banner.state == "ON", 10, "ON in the banner")
    assert "refused" not in panel.banner.text()  # Abort went through: the refusal is old news


def test_device_server_killed_and_restarted(demo: Demo, panel: CCDPCPanel) -> None:
    ticks: list[float] = []
    timer = Qt.QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    process = demo.server.process
    assert process is not None
    process.kill()  # a crash, not a clean shutdown
    process.wait(10)
    settle(lambda: panel.banner.state == "GONE", 10, "the lost device in the banner")
    assert "not answering" in panel.banner.text()
    click(panel, "Acquire")
    settle(lambda: "Acquire refused" in panel.banner.text(), 10, "the failed command")
    QTest.qWait(500)  # lets the timer tick on while the panel's threads meet the dead server
    timer.stop()
    gaps = numpy.diff(ticks)
    assert len(ticks) > 20 and gaps.max() < 1.0, f"{len(ticks)} ticks, longest gap {gaps.max()}"

    demo.server.start()
    dev = demo.server.wait_for(DEVICE)
    settle(lambda: dev.State() == tango.DevState.ON, 30, "the restarted device ON")
    settle(lambda: panel.banner.state == "ON", 10, "ON again in the banner")
    dev.Acquire(0.05)
    settle(lambda: dev.FrameNumber == 1, 30, "the restarted device's first frame")
    frame = dev.Frame  # frame 1 again, as before the crash: the number alone proves nothing
    settle(lambda: numpy.array_equal(panel.frame.data(), frame), 10, "that frame in the view")
    assert panel.frame.number == 1
