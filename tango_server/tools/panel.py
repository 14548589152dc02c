"""``ccdpc-panel [device]``: a taurus panel for one CCDPC device.

On the left a `TaurusForm` with State, Status, the protocol and connection attributes and the
counters; on the right the last frame, redrawn when `FrameNumber` changes (a change event the
device pushes), with a contrast stretch so a diffraction pattern is visible on screen.
Headless use (tests, screenshots): ``QT_QPA_PLATFORM=offscreen``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy
import tango  # type: ignore[import-untyped]
from taurus.external.qt import Qt  # type: ignore[import-untyped]
from taurus.qt.qtgui.application import TaurusApplication  # type: ignore[import-untyped]
from taurus.qt.qtgui.panel import TaurusForm  # type: ignore[import-untyped]

__all__ = [
    "ATTRIBUTES",
    "CCDPCPanel",
    "FrameView",
    "main",
    "screenshot",
    "shown_values",
    "to_image",
]

#: What the form shows, in this order.
ATTRIBUTES = (
    "State",
    "Status",
    "ProtocolVersion",
    "ProtocolClass",
    "ServerVersion",
    "ConnectionState",
    "DetectorState",
    "Temperature",
    "FrameNumber",
    "BytesReceived",
    "PacketsReceived",
    "Reconnects",
    "Errors",
    "LastError",
)


def to_image(frame: numpy.ndarray[Any, Any]) -> Qt.QImage:
    """An 8-bit grey image of a uint16 frame, stretched between its 1st and 99.8th percentile."""
    low, high = numpy.percentile(frame, (1.0, 99.8))
    scale = 255.0 / max(float(high - low), 1.0)
    grey = numpy.ascontiguousarray(numpy.clip((frame - low) * scale, 0, 255).astype(numpy.uint8))
    height, width = grey.shape
    image = Qt.QImage(grey.data, width, height, width, Qt.QImage.Format_Grayscale8)
    return image.copy()  # own the pixels: `grey` goes away


class FrameView(Qt.QLabel):  # type: ignore[misc]
    """Shows the device's last frame; `refresh` reads it (called on FrameNumber events)."""

    changed = Qt.pyqtSignal()

    def __init__(self, device: str, parent: Qt.QWidget | None = None) -> None:
        super().__init__(parent)
        self.device = tango.DeviceProxy(device)
        self.number = 0
        self.setMinimumSize(420, 390)
        self.setAlignment(Qt.Qt.AlignCenter)
        self.setText("no frame yet")
        self.changed.connect(self.refresh)
        self._subscription = self.device.subscribe_event(
            "FrameNumber", tango.EventType.CHANGE_EVENT, self._on_event
        )

    def _on_event(self, event: Any) -> None:
        # Called in a Tango thread: hand over to the GUI thread.
        if not event.err:
            self.changed.emit()

    def refresh(self) -> None:
        number = self.device.FrameNumber
        if number in (self.number, 0):
            return
        self.number = number
        image = to_image(self.device.Frame)
        pixmap = Qt.QPixmap.fromImage(image).scaled(
            self.size(), Qt.Qt.KeepAspectRatio, Qt.Qt.SmoothTransformation
        )
        self.setPixmap(pixmap)
        self.setToolTip(f"frame {number}: {image.width()} x {image.height()}")

    def close_events(self) -> None:
        self.device.unsubscribe_event(self._subscription)


class CCDPCPanel(Qt.QWidget):  # type: ignore[misc]
    """The form and the frame, side by side."""

    def __init__(self, device: str, parent: Qt.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"CCDPC {device}")
        layout = Qt.QHBoxLayout(self)
        self.form = TaurusForm(self)
        self.form.setModel([f"{device}/{name}" for name in ATTRIBUTES])
        self.form.setMinimumWidth(520)
        self.frame = FrameView(device, self)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.frame, 1)
        self.frame.refresh()


def shown_values(panel: CCDPCPanel) -> dict[str, str]:
    """What the form displays for each attribute (the read widget's text)."""
    values = {}
    for index, name in enumerate(ATTRIBUTES):
        widget = panel.form[index].readWidget()
        if widget is not None:
            values[name] = str(widget.getDisplayValue())
    return values


def screenshot(panel: CCDPCPanel, app: Any, path: str, timeout: float) -> dict[str, str]:
    """Wait (bounded) until every value is shown and the frame drawn, then save a PNG."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents(Qt.QEventLoop.AllEvents, 50)
        values = shown_values(panel)
        # Taurus shows "-----" or "None" until a value has been read; an empty LastError is one.
        ready = len(values) == len(ATTRIBUTES) and not any(
            text.startswith("---") or text == "None" for text in values.values()
        )
        if ready and panel.frame.number:
            break
        time.sleep(0.02)
    else:
        raise TimeoutError(f"the panel did not show every value in {timeout:g} s: {values}")
    if not panel.grab().save(path, "PNG"):
        raise OSError(f"cannot write {path}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    args = argparse.ArgumentParser(prog="ccdpc-panel", description=__doc__.split("\n\n")[0])
    args.add_argument("device", nargs="?", default="ccdpc/demo/1", help="device name or TRL")
    args.add_argument(
        "--screenshot", metavar="PNG", help="save the panel once it shows the values, print them"
    )
    args.add_argument("--timeout", type=float, default=20.0, help="for --screenshot, seconds")
    options = args.parse_args(argv)
    app = TaurusApplication(cmd_line_parser=None, app_name="ccdpc-panel")
    panel = CCDPCPanel(options.device)
    panel.resize(1100, 480)
    panel.show()
    try:
        if options.screenshot:
            print(json.dumps(screenshot(panel, app, options.screenshot, options.timeout)))
            return 0
        code: int = app.exec_()
        return code
    finally:
        panel.frame.close_events()


if __name__ == "__main__":
    sys.exit(main())
