"""The operator's controls and read-outs: what the forms show, the command buttons, the banner
that says in words what is wrong, and the progress of the frame and the series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taurus.external.qt import Qt  # type: ignore[import-untyped]
from taurus.qt.qtgui.button import TaurusCommandButton  # type: ignore[import-untyped]
from taurus.qt.qtgui.panel.taurusvalue import UnitLessLineEdit  # type: ignore[import-untyped]

__all__ = [
    "ATTRIBUTES",
    "COMMANDS",
    "OUTCOMES",
    "SERIES_CONTROLS",
    "SERIES_PROGRESS",
    "SETTINGS",
    "WATCHED",
    "Banner",
    "CommandButton",
    "Outcomes",
    "ProgressBox",
    "SettingEdit",
]

#: What the status form shows, in this order (Status is in the banner above it).
ATTRIBUTES = (
    "State",
    "ConnectionState",
    "DetectorState",
    "Temperature",
    "FrameNumber",
    "BytesReceived",
    "Errors",
    "LastError",
)
#: The series and saving settings, in the settings form below ExposureTime and Binning.
SERIES_CONTROLS = (
    "NbFrames",
    "LatencyTime",
    "SavingMode",
    "SavingFormat",
    "SavingDirectory",
    "SavingPrefix",
)
#: What the settings form lets the operator write.
SETTINGS = ("ExposureTime", "Binning", *SERIES_CONTROLS)
#: The series' progress, read by the watch where the device has them.
SERIES_PROGRESS = ("LastImageAcquired", "LastImageSaved", "NbFrames", "LastSavedFile")
#: What the watch reads besides State and Status (Progress also comes by event, finer).
WATCHED = ("Progress", *SERIES_PROGRESS)
#: Button label -> (command, its argument). Acquire and Expose with -1: the ExposureTime attribute.
COMMANDS: dict[str, tuple[str, list[Any]]] = {
    "Acquire": ("Acquire", [-1.0]),
    "Expose": ("Expose", [-1.0]),
    "Abort": ("Abort", []),
    "Connect": ("Connect", []),
    "Disconnect": ("Disconnect", []),
}

_COLOURS = {  # background, text
    "ON": ("#c8f0c8", "black"),
    "RUNNING": ("#c8dcff", "black"),
    "OFF": ("#f0f0b4", "black"),
    "INIT": ("#f0f0b4", "black"),
    "ALARM": ("#ffc864", "black"),
    "FAULT": ("#e03c3c", "white"),
    "GONE": ("#a01e1e", "white"),
}


class Outcomes(Qt.QObject):  # type: ignore[misc]
    """Where the panel's buttons and setting editors say how an action went: `accepted`
    (action) or `refused` (action, why). Taurus would show a failure in a modal message box
    (or, for a device that does not answer, only log it); the banner shows it instead.

    `gone` says why the device server does not answer ("" while it does), as the panel's
    watch last found: an action is then refused at once, without a call in the GUI thread
    that would wait for a dead server's connection to fail."""

    refused = Qt.pyqtSignal(str, str)
    accepted = Qt.pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self.gone = ""

    def attempt(self, action: str, do: Callable[[], Any]) -> Any:
        """`do()`, unless the device is gone; the outcome reported by signal."""
        try:
            if self.gone:
                raise ConnectionError(f"the device server is not answering ({self.gone})")
            result = do()
        except Exception as exc:  # whatever it is, the operator is told
            self.refused.emit(action, _why(exc))
            return None
        self.accepted.emit(action)
        return result


#: The one hub: taurus builds the setting editors itself (again when an attribute's
#: configuration changes), so they cannot be handed a panel's signal when made.
OUTCOMES = Outcomes()


class CommandButton(TaurusCommandButton):  # type: ignore[misc]
    """A taurus command button that reports to `OUTCOMES` instead of a message box."""

    def onClicked(self, value: int = 0) -> Any:  # noqa: N802 (taurus's name)
        """Run the command (in the GUI thread: the device answers within its 3 s timeout);
        report the outcome."""
        return OUTCOMES.attempt(self.getCommand(), self._execute)

    def _execute(self) -> Any:
        command, device = self.getCommand(), self.getModelObj()
        if device is None:
            raise ConnectionError(f"no device {self.getModelName()!r}")
        result = device.command_inout(
            command, self._castParameters(self._parameters, command, device)
        )
        self.commandExecuted.emit(result)
        return result


class SettingEdit(UnitLessLineEdit):  # type: ignore[misc]
    """The settings form's editor (Enter writes): reports to `OUTCOMES` instead of a modal
    message box, which would stop the panel until someone closes it."""

    def applyPendingOperations(self, ops: Any = None) -> None:  # noqa: N802 (taurus's name)
        """Write the value typed; report the outcome."""
        name = str(self.getModelName()).split("#")[0].rsplit("/", 1)[-1]
        pending = self.getPendingOperations() if ops is None else ops
        OUTCOMES.attempt(
            f"Writing {name}", lambda: self.getTaurusManager().applyPendingOperations(pending)
        )


def _why(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if args and hasattr(args[0], "desc"):  # a DevFailed: its first error says it best
        return str(args[0].desc).strip()
    return str(exc) or type(exc).__name__


class Banner(Qt.QLabel):  # type: ignore[misc]
    """One line on the device (reachable? its State and what Status says first) and one on the
    last command refused, coloured by state."""

    def __init__(self, parent: Qt.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setMargin(6)
        self.state, self.device_text, self.command_text = "", "waiting for the device...", ""
        self._draw()

    def device_seen(self, state: str, status: str) -> None:
        """The device answered: its State and Status."""
        lines = status.splitlines() or [""]
        self.state, self.device_text = state, f"{state}: {lines[0]}"
        if len(lines) > 1 and state in ("FAULT", "ALARM"):
            self.device_text += " " + " ".join(lines[1:])
        self._draw()

    def device_lost(self, why: str) -> None:
        """The device server does not answer."""
        self.state = "GONE"
        self.device_text = f"Device server not answering ({why.splitlines()[0]}); retrying."
        self._draw()

    def command_refused(self, command: str, why: str) -> None:
        self.command_text = f"{command} refused: {why}"
        self._draw()

    def command_accepted(self, command: str) -> None:
        self.command_text = ""
        self._draw()

    def _draw(self) -> None:
        background, colour = _COLOURS.get(self.state, ("#dddddd", "black"))
        self.setStyleSheet(f"QLabel {{ background: {background}; color: {colour}; }}")
        text = self.device_text + (f"\n{self.command_text}" if self.command_text else "")
        self.setText(text)


class ProgressBox(Qt.QGroupBox):  # type: ignore[misc]
    """The frame in flight (Progress, and what the device does), frame k of N, last saved file."""

    def __init__(self, parent: Qt.QWidget | None = None) -> None:
        super().__init__("Progress", parent)
        self.bar = Qt.QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setFormat("frame in flight: %p %")
        self.bar.setTextVisible(True)
        self.activity = Qt.QLabel("", self)
        self.series = Qt.QLabel(
            "series: -", self
        )  # the series attributes, where the device has them
        self.saved = Qt.QLabel("last saved: -", self)
        self.saved.setTextInteractionFlags(Qt.Qt.TextSelectableByMouse)
        layout = Qt.QVBoxLayout(self)
        for widget in (self.bar, self.activity, self.series, self.saved):
            layout.addWidget(widget)

    def progress(self, percent: Any) -> None:
        """Progress of the frame in flight (None: unknown)."""
        self.bar.setValue(int(float(percent) * 10) if percent is not None else 0)

    def device_seen(self, state: str, status: str, values: dict[str, Any]) -> None:
        """What the watch read: the activity from Status, the series' figures if any."""
        lines = status.splitlines()
        self.activity.setText(lines[1] if state == "RUNNING" and len(lines) > 1 else "")
        if "Progress" in values:
            self.progress(values["Progress"])
        if "NbFrames" in values and "LastImageAcquired" in values:
            self.series.setText(_series_text(values))
        if values.get("LastSavedFile"):
            self.saved.setText(f"last saved: {values['LastSavedFile']}")


def _series_text(values: dict[str, Any]) -> str:
    """ "series: frame k of N taken, j saved" (indices from 0 on the device, -1: none)."""
    taken, total = int(values["LastImageAcquired"]) + 1, int(values["NbFrames"])
    if taken == 0:
        return f"series: none yet ({total} frames a series)"
    saved = int(values.get("LastImageSaved", -1)) + 1
    return f"series: frame {taken} of {total} taken" + (f", {saved} saved" if saved else "")
