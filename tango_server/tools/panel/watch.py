"""What the panel learns from the device without ever waiting for it in the GUI thread.

`DeviceWatch` reads State, Status and the series' progress in a thread of its own, with a short
timeout, every `PERIOD` seconds: when the device server is gone it says so within a second and
keeps asking, so the panel shows the device again as soon as it is back. `Bridge` turns a
taurus attribute's change events (which arrive in Tango's threads) into a Qt signal.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import tango  # type: ignore[import-untyped]
import taurus  # type: ignore[import-untyped]
from taurus.core.taurusbasetypes import TaurusEventType  # type: ignore[import-untyped]
from taurus.external.qt import Qt  # type: ignore[import-untyped]

__all__ = ["PERIOD", "TIMEOUT_MS", "Bridge", "DeviceWatch", "plain"]

#: Seconds between two looks at the device.
PERIOD = 0.5
#: The watch's timeout per call: a device that does not answer in this time is shown as gone.
TIMEOUT_MS = 1000


def plain(value: Any) -> Any:
    """A taurus value without its unit (taurus gives numbers as pint quantities)."""
    return getattr(value, "magnitude", value)


class DeviceWatch(Qt.QObject):  # type: ignore[misc]
    """Reads State, Status and `extra` attributes (those the device has) every `PERIOD` s.

    Emits `seen` (state name, status, {attribute: value}) or `lost` (why it cannot read)."""

    seen = Qt.pyqtSignal(str, str, object)
    lost = Qt.pyqtSignal(str)

    def __init__(self, device: str, extra: Sequence[str], parent: Qt.QObject | None = None) -> None:
        super().__init__(parent)
        self.device, self.extra = device, tuple(extra)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ccdpc-panel-watch", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop watching, within `timeout` seconds."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        proxy: Any = None
        names: list[str] = []
        while True:
            try:
                if proxy is None:
                    proxy = tango.DeviceProxy(self.device)
                    proxy.set_timeout_millis(TIMEOUT_MS)
                if not names:  # after every loss: a restarted server may be another version
                    known = set(proxy.get_attribute_list())
                    names = ["State", "Status", *(n for n in self.extra if n in known)]
                read = proxy.read_attributes(names)
                values = {a.name: a.value for a in read[2:]}
                self.seen.emit(str(read[0].value), str(read[1].value), values)
            except tango.DevFailed as exc:
                names = []
                self.lost.emit(exc.args[0].desc.strip())
            if self._stop.wait(PERIOD):
                return


class Bridge(Qt.QObject):  # type: ignore[misc]
    """The change events of one taurus attribute as a Qt signal `changed` (its value, unit-less;
    None when the attribute cannot be read)."""

    changed = Qt.pyqtSignal(object)

    def __init__(self, trl: str, parent: Qt.QObject | None = None) -> None:
        super().__init__(parent)
        self.attribute = taurus.Attribute(trl)
        self.attribute.addListener(self)  # taurus keeps a weak reference: the panel holds us

    def eventReceived(self, source: Any, kind: Any, value: Any) -> None:  # noqa: N802 (taurus)
        """Taurus's listener call, in a Tango thread: hand the value to the GUI thread."""
        if kind == TaurusEventType.Error:
            self.changed.emit(None)
        elif kind in (TaurusEventType.Change, TaurusEventType.Periodic) and value is not None:
            self.changed.emit(plain(value.rvalue))

    def close(self) -> None:
        """Stop listening."""
        self.attribute.removeListener(self)
