"""The panel's window: the banner on top; on the left the device's state, the settings, the
command buttons and the progress; on the right the frame. `main` is ``ccdpc-panel``."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import taurus  # type: ignore[import-untyped]
from taurus.external.qt import Qt  # type: ignore[import-untyped]
from taurus.qt.qtgui.application import TaurusApplication  # type: ignore[import-untyped]
from taurus.qt.qtgui.panel import TaurusForm  # type: ignore[import-untyped]
from taurus.taurusstatecontroller import application  # type: ignore[import-untyped]

from .controls import (
    ATTRIBUTES,
    COMMANDS,
    OUTCOMES,
    SETTINGS,
    WATCHED,
    Banner,
    CommandButton,
    ProgressBox,
    SettingEdit,
)
from .image import FrameView
from .watch import Bridge, DeviceWatch

__all__ = ["MIN_PERIOD", "CCDPCPanel", "main", "running", "screenshot", "shown_values"]

#: Frames are drawn at most this often (seconds): a fast series shows its latest frame.
MIN_PERIOD = 0.5
#: Taurus polls what the device pushes no events for (the settings) this often, milliseconds:
#: a setting changed by another client shows within a second.
SETTINGS_POLL_MS = 1000
#: Width of the left column (state, settings, buttons, progress), pixels.
COLUMN_WIDTH = 520
_ROW = 29


class CCDPCPanel(Qt.QWidget):  # type: ignore[misc]
    """Everything an operator needs for one CCDPC device; `stop` (or closing it) ends its
    threads."""

    def __init__(
        self, device: str, min_period: float = MIN_PERIOD, parent: Qt.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.device, self._stopped = device, False
        self._gone = False  # the watch found the server gone, and has not seen it since
        self.setWindowTitle(f"CCDPC {device}")
        self.banner = Banner(self)
        self.form = self._form([f"{device}/{name}" for name in ATTRIBUTES])
        self.settings = self._form([f"{device}/{name}" for name in SETTINGS])
        self._use_setting_editors()
        for name in SETTINGS:
            taurus.Attribute(f"{device}/{name}").changePollingPeriod(SETTINGS_POLL_MS)
        OUTCOMES.refused.connect(self.banner.command_refused)
        OUTCOMES.accepted.connect(self.banner.command_accepted)
        self.buttons: dict[str, CommandButton] = {}
        row = Qt.QHBoxLayout()
        for label, (command, argument) in COMMANDS.items():
            button = CommandButton(command=command, parameters=argument, text=label, parent=self)
            button.setModel(device)
            row.addWidget(button)
            self.buttons[label] = button
        self.progress = ProgressBox(self)
        self.frame = FrameView(device, min_period, self)
        self.watch = DeviceWatch(device, WATCHED, self)
        self.watch.seen.connect(lambda state, status, _: self.banner.device_seen(state, status))
        self.watch.seen.connect(self.progress.device_seen)
        self.watch.lost.connect(self.banner.device_lost)
        self.watch.seen.connect(self._seen)
        self.watch.lost.connect(self._lost)
        self.bridges = [Bridge(f"{device}/FrameNumber", self), Bridge(f"{device}/Progress", self)]
        self.bridges[0].changed.connect(self.frame.fetcher.want)
        self.bridges[1].changed.connect(self.progress.progress)

        column = Qt.QWidget(self)
        column.setMaximumWidth(COLUMN_WIDTH)
        left = Qt.QVBoxLayout(column)
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.form)
        left.addWidget(self.settings)
        left.addLayout(row)
        left.addWidget(self.progress)
        left.addStretch(1)
        body = Qt.QHBoxLayout()
        body.addWidget(column, 0)
        body.addWidget(self.frame, 1)
        layout = Qt.QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        self.watch.start()
        self.frame.fetcher.start()

    def _seen(self, *_: object) -> None:
        OUTCOMES.gone = ""
        back, self._gone = self._gone, False
        self.settings.setEnabled(True)
        # Taurus cannot build a form's widgets for a device it has never reached (a panel
        # opened while the server was down): build them now that the device answers.
        for form in (self.form, self.settings):
            if any(form[index].readWidget() is None for index in range(len(form))):
                form.setModel(form.getModel())
                self._use_setting_editors()
                back = True
        if back:
            # Read every value once: their events resume only when Tango's keep-alive thread
            # subscribes again on its round (every 10 s); until then taurus would show the
            # values of before and keep its editors greyed out.
            for name in (*ATTRIBUTES, *SETTINGS):
                taurus.Attribute(f"{self.device}/{name}").poll()

    def _use_setting_editors(self) -> None:
        for index in range(len(self.settings)):
            self.settings[index].setWriteWidgetClass(SettingEdit)

    def _lost(self, why: str) -> None:
        """Nothing can be written to a server that is gone: the settings are greyed out at once
        (taurus greys each editor too, but only once an event of its own reports the error)."""
        OUTCOMES.gone = why.splitlines()[0]
        self._gone = True
        self.settings.setEnabled(False)

    def _form(self, models: list[str]) -> Any:
        form = TaurusForm(self, withButtons=False)  # no Apply: Enter writes a setting
        form.setModel(models)
        form.setMinimumHeight(_ROW * len(models) + 12)  # every row, without scrolling
        return form

    def stop(self) -> None:
        """End the panel's threads and event subscriptions (once; closing calls it too)."""
        if self._stopped:
            return
        self._stopped = True
        OUTCOMES.refused.disconnect(self.banner.command_refused)
        OUTCOMES.accepted.disconnect(self.banner.command_accepted)
        for bridge in self.bridges:
            bridge.close()
        self.watch.stop()
        self.frame.fetcher.stop()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        """Closing the window ends the threads."""
        self.stop()
        super().closeEvent(event)


def running() -> None:
    """Tell taurus its application runs although nothing calls `exec_` (a screenshot, tests that
    turn the event loop themselves): taurus holds its polling back until then, and attributes
    without change events (ExposureTime, Binning) would never be read."""
    application.application_started()


def shown_values(panel: CCDPCPanel) -> dict[str, str]:
    """What the forms display for each attribute (the read widget's text)."""
    values = {}
    for form, names in ((panel.form, ATTRIBUTES), (panel.settings, SETTINGS)):
        for index, name in enumerate(names):
            widget = form[index].readWidget()
            if widget is not None:
                values[name] = str(widget.getDisplayValue())
    return values


def screenshot(panel: CCDPCPanel, app: Any, path: str, timeout: float) -> dict[str, str]:
    """Wait (bounded) until every value and a frame are shown, then save the panel as a PNG."""
    running()
    deadline = time.monotonic() + timeout
    values: dict[str, str] = {}
    while time.monotonic() < deadline:
        app.processEvents(Qt.QEventLoop.AllEvents, 50)
        values = shown_values(panel)
        # Taurus shows "-----" or "None" until a value has been read; an empty LastError is one.
        ready = len(values) == len(ATTRIBUTES) + len(SETTINGS) and not any(
            text.startswith("---") or text == "None" for text in values.values()
        )
        if ready and panel.frame.number and panel.banner.state:
            break
        time.sleep(0.02)
    else:
        raise TimeoutError(f"the panel did not show every value in {timeout:g} s: {values}")
    if not panel.grab().save(path, "PNG"):
        raise OSError(f"cannot write {path}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """``ccdpc-panel [device]``: open the panel (``--screenshot PNG``: save it and exit)."""
    args = argparse.ArgumentParser(prog="ccdpc-panel", description="The CCDPC operator's panel")
    args.add_argument("device", nargs="?", default="ccdpc/demo/1", help="device name or TRL")
    args.add_argument(
        "--screenshot", metavar="PNG", help="save the panel once it shows the values, print them"
    )
    args.add_argument("--timeout", type=float, default=20.0, help="for --screenshot, seconds")
    args.add_argument(
        "--min-period", type=float, default=MIN_PERIOD, help="seconds between two frames drawn"
    )
    options = args.parse_args(argv)
    app = TaurusApplication(cmd_line_parser=None, app_name="ccdpc-panel")
    panel = CCDPCPanel(options.device, options.min_period)
    panel.resize(1400, 820)
    panel.show()
    try:
        if options.screenshot:
            print(json.dumps(screenshot(panel, app, options.screenshot, options.timeout)))
            return 0
        code: int = app.exec_()
        return code
    finally:
        panel.stop()
