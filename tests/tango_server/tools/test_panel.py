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
from taurus.core.taurusbasetypes import AttrQuality  # type: ignore[import-untyped]
from taurus.external.qt import Qt  # type: ignore[import-untyped]
from taurus.qt.qtgui.application import TaurusApplication  # type: ignore[import-untyped]
from taurus.qt.qtgui.util import QT_ATTRIBUTE_QUALITY_PALETTE  # type: ignore[import-untyped]

from tango_server.tools.demo import DEVICE, TEMPERATURE_LIMITS, Demo, running_demo
from tango_server.tools.embedded import wait_until
from tango_server.tools.panel import CCDPCPanel, running, screenshot, shown_values
from tango_server.tools.panel.controls import ATTRIBUTES, SETTINGS

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


def background(widget: Any) -> str:
    """The colour drawn at the left middle of a widget (where a right-aligned value is not)."""
    return str(widget.grab().toImage().pixelColor(6, widget.height() // 2).name())


def point_at(panel: CCDPCPanel, row: int, column: int) -> dict[str, str]:
    """Move the mouse over a pixel of the image; what the plot's read-out then says."""
    plot = panel.frame.plot
    x, y = plot.dataToPixel(column + 0.5, row + 0.5)
    move = Qt.QMouseEvent(
        Qt.QEvent.MouseMove, Qt.QPointF(x, y), Qt.Qt.NoButton, Qt.Qt.NoButton, Qt.Qt.NoModifier
    )
    Qt.QApplication.sendEvent(plot.getWidgetHandle(), move)
    labels = [label.text() for label in plot.getPositionInfoWidget().findChildren(Qt.QLabel)]
    names = [text[3:-4] for text in labels if text.startswith("<b>")]  # "<b>Data:</b>"
    values = [text for text in labels if not text.startswith("<b>")]
    return dict(zip(names, values, strict=True))


def write(panel: CCDPCPanel, name: str, text: str) -> None:
    """Type `text` into the settings form's editor of `name` and press Enter."""
    editor = panel.settings[SETTINGS.index(name)].writeWidget()
    settle(lambda: editor.getValue() is not None, 10, f"the editor of {name} ready")
    editor.setText("")
    QTest.keyClicks(editor, text)
    QTest.keyClick(editor, Qt.Qt.Key_Return)


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


def test_set_the_exposure_acquire_and_see_the_frame(
    app: Any, demo: Demo, panel: CCDPCPanel, tmp_path: Path
) -> None:
    dev = demo.device
    editor = panel.settings[0].writeWidget()  # ExposureTime
    settle(lambda: editor.getValue() is not None, 10, "the editor ready (its validator set)")
    editor.setFocus()
    editor.selectAll()
    QTest.keyClicks(editor, "0.05")
    QTest.keyClick(editor, Qt.Qt.Key_Return)
    settle(lambda: dev.ExposureTime == pytest.approx(0.05), 10, "ExposureTime written")
    before = dev.FrameNumber
    click(panel, "Acquire")  # Acquire(-1): with the ExposureTime attribute
    settle(lambda: dev.FrameNumber > before, 30, "a new frame on the device")
    settle(lambda: panel.frame.number == dev.FrameNumber, 10, "the new frame in the view")
    numpy.testing.assert_array_equal(panel.frame.data(), dev.Frame)
    assert panel.frame.data().shape == (1152, 1242)
    shown = point_at(panel, 600, 400)  # the pixel under the mouse, to a screen pixel or so
    x, y = float(shown["X:"]), float(shown["Y:"])
    assert abs(x - 400.5) < 8 and abs(y - 600.5) < 8, shown
    assert shown["Data:"] == str(panel.frame.data()[int(y), int(x)]), shown
    settle(lambda: panel.banner.state == "ON", 10, "ON in the banner after the frame")
    exposure = panel.settings[0].readWidget()
    settle(lambda: exposure.getDisplayValue().startswith("0.050"), 10, "ExposureTime read back")
    png = tmp_path / "panel.png"
    values = screenshot(panel, app, str(png), 20)
    assert values["State"] == "ON"
    assert values["ConnectionState"] == "CONNECTED"
    assert values["FrameNumber"] == str(dev.FrameNumber)
    assert values["Temperature"].startswith("-")
    assert panel.banner.text().startswith("ON: Connected to ")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CCDPC_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(png, DOC_IMAGE)


def test_a_burst_of_frames_is_not_queued_behind_the_screen(demo: Demo, panel: CCDPCPanel) -> None:
    """While the GUI is busy (here: this thread, which waits without turning the event loop)
    frames keep coming; the fetcher hands over one and waits for it to be drawn, so the screen
    then shows at most that one and the latest, not every frame in turn."""
    dev, fetcher = demo.device, panel.frame.fetcher
    drawn: list[float] = []
    fetcher.fetched.connect(lambda *_: drawn.append(time.monotonic()))
    first = dev.FrameNumber
    for _ in range(3):
        number = dev.FrameNumber
        dev.Acquire(0.0)
        wait_until(lambda n=number: dev.FrameNumber > n, 30, "the next frame")  # GUI blocked
        wait_until(lambda: dev.State() == tango.DevState.ON, 30, "State ON")
    last = dev.FrameNumber
    settle(lambda: panel.frame.number == last, 10, "the last frame in the view")
    assert last - first == 3
    assert len(drawn) <= 2, f"{len(drawn)} frames drawn for 3"


def test_temperature_coloured_by_its_alarm_limits(demo: Demo, panel: CCDPCPanel) -> None:
    label = panel.form[ATTRIBUTES.index("Temperature")].readWidget()

    def quality() -> str:
        value = label.getModelValueObj()
        return "" if value is None else str(value.quality.name)

    settle(lambda: quality() == "ATTR_VALID", 10, "Temperature VALID within its limits")
    config = demo.device.get_attribute_config("Temperature")
    config.alarms.max_alarm = "-70"  # the CCD at -60 degC is now too warm
    demo.device.set_attribute_config(config)
    try:
        settle(lambda: quality() == "ATTR_ALARM", 10, "Temperature ALARM")
        alarm = QT_ATTRIBUTE_QUALITY_PALETTE.qcolor(AttrQuality.ATTR_ALARM)[0]
        settle(lambda: background(label) == alarm.name(), 5, f"the label in {alarm.name()}")
    finally:
        config.alarms.max_alarm = str(TEMPERATURE_LIMITS["max_alarm"])
        demo.device.set_attribute_config(config)


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


def test_disconnect_and_connect(demo: Demo, panel: CCDPCPanel) -> None:
    click(panel, "Disconnect")
    settle(lambda: panel.banner.state == "OFF", 10, "OFF in the banner")
    assert demo.device.State() == tango.DevState.OFF
    click(panel, "Connect")
    settle(lambda: panel.banner.state == "ON", 10, "ON again in the banner")


def test_a_series_set_up_and_followed_in_the_panel(demo: Demo, panel: CCDPCPanel) -> None:
    dev = demo.device
    dev.ExposureTime = 0.0
    for name, text in (
        ("NbFrames", "3"),
        ("SavingMode", "AUTO_FRAME"),
        ("SavingDirectory", "series"),
        ("SavingPrefix", "panel_"),
    ):
        write(panel, name, text)
        settle(lambda n=name, t=text: str(dev.read_attribute(n).value) == t, 10, f"{name} {text}")
    try:
        click(panel, "Acquire")
        settle(lambda: dev.LastImageSaved == 2, 30, "the series saved")
        saved = dev.LastSavedFile
        assert Path(saved).parent == demo.folder / "series"
        settle(lambda: panel.progress.saved.text() == f"last saved: {saved}", 10, "the file")
        series = panel.progress.series
        settle(lambda: series.text() == "series: frame 3 of 3 taken, 3 saved", 10, "3 of 3")
    finally:
        dev.NbFrames, dev.SavingMode = 1, "MANUAL"


def test_a_write_the_device_refuses_is_said_in_the_banner(demo: Demo, panel: CCDPCPanel) -> None:
    """No modal box stops the panel: the device's reason is in the banner, the value unchanged."""
    before = demo.device.SavingDirectory
    write(panel, "SavingDirectory", "../outside")
    settle(lambda: "Writing SavingDirectory refused" in panel.banner.text(), 10, "the refusal")
    assert "is outside DataFolder" in panel.banner.text() and demo.device.SavingDirectory == before


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
    editor = panel.settings[0].writeWidget()  # ExposureTime: greyed out, typing does nothing
    assert not editor.isEnabled()
    before = editor.text()
    QTest.keyClicks(editor, "0.5")
    QTest.keyClick(editor, Qt.Qt.Key_Return)
    assert editor.text() == before and "Writing" not in panel.banner.text()
    # An observation window: the watch (every 0.5 s) and the fetcher (every 1 s) meet the dead
    # server again meanwhile, and the timer must tick on through it.
    QTest.qWait(1200)
    timer.stop()
    gaps = numpy.diff(ticks)
    assert len(ticks) > 30 and gaps.max() < 1.0, f"{len(ticks)} ticks, longest gap {gaps.max()}"

    late = CCDPCPanel(panel.device)  # opened while the server is down
    try:
        late.show()
        settle(lambda: late.banner.state == "GONE", 10, "the late panel's banner")
        demo.server.start()
        dev = demo.server.wait_for(DEVICE)
        settle(lambda: dev.State() == tango.DevState.ON, 30, "the restarted device ON")
        settle(lambda: panel.banner.state == "ON", 10, "ON again in the banner")
        settle(lambda: panel.settings[0].writeWidget().isEnabled(), 5, "the settings editable")
        # Taurus built no form widgets for a device it never reached: the panel builds them,
        # and reads the values at once (Tango's events resume only on its keep-alive round).
        settle(lambda: shown_values(late).get("State") == "ON", 5, "the late panel's form")
    finally:
        late.close()
    dev.Acquire(0.05)
    settle(lambda: dev.FrameNumber == 1, 30, "the restarted device's first frame")
    frame = dev.Frame  # frame 1 again, as before the crash: the number alone proves nothing
    settle(lambda: numpy.array_equal(panel.frame.data(), frame), 10, "that frame in the view")
    assert panel.frame.number == 1
