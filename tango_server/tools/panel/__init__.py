"""``ccdpc-panel [device]``: the operator's taurus panel for one CCDPC device.

Set the exposure time and binning, Acquire, Expose, Abort, Connect and Disconnect; follow the
frame in flight and the series; look at each frame in a silx plot (colour scale, autoscale,
zoom, pixel values, histogram). It never waits for the device in the GUI thread longer than a
command takes, says in words when the device is gone, faulty or refuses a command, and picks up
again when it is back. Headless use (tests, screenshots): ``QT_QPA_PLATFORM=offscreen``.
"""

from .window import CCDPCPanel, main, running, screenshot, shown_values

__all__ = ["CCDPCPanel", "main", "running", "screenshot", "shown_values"]
