"""The frame on screen: a silx `Plot2D` (colormap, colour bar, zoom, pixel value under the
cursor) with a choice of autoscale, a histogram of the pixel values below it, and the thread
that fetches frames from the device so that the GUI never waits for 2.86 MB.

`FrameFetcher` is woken by FrameNumber change events (and looks at FrameNumber itself every
`POLL` seconds, for an event missed while the server was away). It fetches at most once every
`min_period` seconds and not again until the view has drawn the last frame: a fast series
shows its latest frame at that rate instead of queueing every frame behind the screen.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy
import tango  # type: ignore[import-untyped]
from silx.gui.colors import Colormap
from silx.gui.plot import Plot2D, PlotWidget
from taurus.external.qt import Qt  # type: ignore[import-untyped]

__all__ = ["AUTOSCALE", "POLL", "FrameFetcher", "FrameView", "histogram"]

#: Seconds between two looks at FrameNumber when no event came.
POLL = 1.0
#: Fetching Frame: 2.86 MB on the device's lock; generous, off the GUI thread.
FETCH_TIMEOUT_MS = 5000
#: Autoscale modes offered, label -> (silx mode, percentiles).
AUTOSCALE = {
    "percentile 1-99.9 %": (Colormap.PERCENTILE, (1.0, 99.9)),
    "min / max": (Colormap.MINMAX, None),
    "mean +/- 3 sigma": (Colormap.STDDEV3, None),
}
_BINS = 256


def histogram(frame: numpy.ndarray[Any, Any]) -> tuple[numpy.ndarray[Any, Any], ...]:
    """Counts and bin edges of the pixel values, `_BINS` bins from the least to the largest."""
    low, high = int(frame.min()), int(frame.max())
    counts, edges = numpy.histogram(frame, bins=_BINS, range=(low, max(high, low + 1)))
    return counts, edges


class FrameFetcher(Qt.QObject):  # type: ignore[misc]
    """Fetches `Frame` in a thread of its own when told a new one may be there; emits `fetched`
    (number, frame, counts, edges) in the GUI thread's queue, `failed` (text) if it cannot."""

    fetched = Qt.pyqtSignal(int, object, object, object)
    failed = Qt.pyqtSignal(str)  # "" once it reads again

    def __init__(self, device: str, min_period: float, parent: Qt.QObject | None = None) -> None:
        super().__init__(parent)
        self.device, self.min_period = device, min_period
        self._wanted = threading.Event()
        self._drawn = threading.Event()
        self._drawn.set()
        self._stop = threading.Event()
        self._shown = 0
        self._thread = threading.Thread(target=self._run, name="ccdpc-panel-frames", daemon=True)

    def start(self) -> None:
        """Start fetching (the first frame the device holds, then on every `want`)."""
        self._wanted.set()
        self._thread.start()

    def want(self, *_: object) -> None:
        """A new frame may be there (any thread; returns at once)."""
        self._wanted.set()

    def drawn(self) -> None:
        """The view has drawn the last frame fetched: the next may come."""
        self._drawn.set()

    def stop(self, timeout: float = 6.0) -> None:
        """Stop the thread, within `timeout` seconds."""
        self._stop.set()
        self._wanted.set()
        self._drawn.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        proxy: Any = None
        last, failing = -self.min_period, False
        while not self._stop.is_set():
            woken = self._wanted.wait(POLL)
            self._wanted.clear()
            # The rate limit and the back pressure: never faster than the screen.
            self._stop.wait(max(last + self.min_period - time.monotonic(), 0.0))
            self._drawn.wait()
            if self._stop.is_set():
                return
            try:
                if proxy is None:
                    proxy = tango.DeviceProxy(self.device)
                    proxy.set_timeout_millis(FETCH_TIMEOUT_MS)
                # read_attribute, not proxy.FrameNumber: attribute access on a proxy whose
                # server never answered raises AttributeError, which would end this thread.
                latest = proxy.read_attribute("FrameNumber").value
                if not woken and latest == self._shown and not failing:
                    continue
                number, frame = proxy.read_attributes(["FrameNumber", "Frame"])
            except tango.DevFailed as exc:
                failing = True
                self._shown = 0  # a server back from a crash counts its frames from 1 again
                self.failed.emit(f"cannot read the frame: {exc.args[0].desc.strip()}")
                continue
            if failing:
                failing = False
                self.failed.emit("")
            last = time.monotonic()
            if frame.value is None or not frame.value.size or number.value == self._shown:
                continue
            self._shown = int(number.value)
            pixels = numpy.asarray(frame.value)
            self._drawn.clear()
            self.fetched.emit(self._shown, pixels, *histogram(pixels))


class FrameView(Qt.QWidget):  # type: ignore[misc]
    """The last frame in a silx plot with its colour scale, the autoscale choice and the
    histogram of its pixel values; `number` is the frame shown (0: none yet)."""

    def __init__(self, device: str, min_period: float, parent: Qt.QWidget | None = None) -> None:
        super().__init__(parent)
        self.number = 0
        self.colormap = Colormap(name="viridis", normalization=Colormap.ARCSINH)
        self.plot = Plot2D(self, backend="matplotlib")
        self.plot.setDefaultColormap(self.colormap)
        self.plot.setKeepDataAspectRatio(True)
        self.plot.getYAxis().setInverted(True)  # row 0 at the top, as the detector reads out
        self.plot.setGraphXLabel("column")
        self.plot.setGraphYLabel("row")
        self.plot.getColorBarWidget().setVisible(True)
        self.plot.getColorBarWidget().setMinimumWidth(110)  # room for 5-digit limits
        self.histo = PlotWidget(self, backend="matplotlib")
        self.histo.getYAxis().setScale("log")
        self.histo.setGraphXLabel("ADU")
        self.histo.setGraphYLabel("pixels")
        self.histo.setFixedHeight(170)
        self.autoscale = Qt.QComboBox(self)
        self.autoscale.addItems(list(AUTOSCALE))
        self.autoscale.currentTextChanged.connect(self._set_autoscale)
        self._set_autoscale(self.autoscale.currentText())
        bar = Qt.QToolBar("Autoscale", self.plot)
        bar.addWidget(Qt.QLabel(" autoscale ", bar))
        bar.addWidget(self.autoscale)
        self.plot.addToolBar(bar)
        self.caption = Qt.QLabel("no frame yet", self)
        layout = Qt.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.histo)
        self.fetcher = FrameFetcher(device, min_period, self)
        self.fetcher.fetched.connect(self.show_frame)
        self.fetcher.failed.connect(self._failed)
        self._described = "no frame yet"

    def _set_autoscale(self, label: str) -> None:
        mode, percentiles = AUTOSCALE[label]
        self.colormap.setVRange(None, None)  # autoscale: the range follows every frame
        self.colormap.setAutoscaleMode(mode)
        if percentiles is not None:
            self.colormap.setAutoscalePercentiles(percentiles)

    def _failed(self, text: str) -> None:
        self.caption.setText(text or self._described)

    def show_frame(
        self,
        number: int,
        frame: numpy.ndarray[Any, Any],
        counts: numpy.ndarray[Any, Any],
        edges: numpy.ndarray[Any, Any],
    ) -> None:
        """Draw frame `number` and its histogram (the fetcher's signal, in the GUI thread)."""
        try:
            self._draw(number, frame, counts, edges)
        finally:
            self.fetcher.drawn()  # even if drawing failed: the fetcher must not wait forever

    def _draw(
        self,
        number: int,
        frame: numpy.ndarray[Any, Any],
        counts: numpy.ndarray[Any, Any],
        edges: numpy.ndarray[Any, Any],
    ) -> None:
        first = self.number == 0 or self.data().shape != frame.shape
        self.plot.addImage(frame, legend="frame", colormap=self.colormap, resetzoom=first)
        self.histo.addHistogram(counts, edges, legend="pixels", fill=True, resetzoom=False)
        # Where the colour scale starts and ends, on the histogram.
        for legend, value in zip(
            ("low", "high"), self.colormap.getColormapRange(frame), strict=True
        ):
            self.histo.addXMarker(value, legend=legend, color="red")
        self.histo.resetZoom()
        # Draw now rather than at silx's deferred redraw: the fetcher's back pressure then
        # counts the drawing, and what `number` says is what the screen shows.
        self.plot.replot()
        self.histo.replot()
        self.number = number
        height, width = frame.shape
        self._described = (
            f"frame {number}: {width} x {height}, min {frame.min()} max {frame.max()} "
            f"mean {frame.mean():.0f} ADU"
        )
        self.caption.setText(self._described)

    def data(self) -> numpy.ndarray[Any, Any]:
        """The pixels the plot holds (its model), empty if none."""
        image = self.plot.getImage("frame")
        if image is None:
            return numpy.zeros((0, 0), numpy.uint16)
        return numpy.asarray(image.getData(copy=False))
