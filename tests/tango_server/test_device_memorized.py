"""ExposureTime, Binning and the series settings are memorized: a beamline's settings survive a
server restart. Needs a Tango database (the embedded sqlite one), as memorized values live there."""

from __future__ import annotations

from pathlib import Path

import tango  # type: ignore[import-untyped]

from ccdpc.sim import Simulator
from tango_server.tools.embedded import DeviceServer, EmbeddedDatabase, register_device, wait_until

DEVICE = "test/memorized/1"
#: The writable settings of a new device, with their defaults.
SETTINGS = {
    "ExposureTime": 0.0, "Binning": 1, "NbFrames": 1, "LatencyTime": 0.0, "BufferFrames": 16,
    "SavingMode": "MANUAL", "SavingFormat": "HDF5", "SavingDirectory": "",
    "SavingPrefix": "frame_", "SavingNextNumber": 0, "SavingOverwritePolicy": "ABORT",
}  # fmt: skip


def test_settings_survive_a_restart(tmp_path: Path) -> None:
    database = EmbeddedDatabase(tmp_path)
    database.start()
    try:
        with Simulator(protocol=2) as sim:
            properties = {"Host": sim.host, "Port": sim.port, "DataFolder": tmp_path}
            register_device(database.tango_host, "CCDPC/memo", "CCDPC", DEVICE, properties)
            with DeviceServer("memo", database.tango_host, tmp_path) as server:
                dev = server.wait_for(DEVICE)
                assert (dev.Binning, dev.ExposureTime) == (1, 0.0)
                # Never written: each set point is the value in use, not "Not initialised".
                set_points = {name: dev.read_attribute(name).w_value for name in SETTINGS}
                assert set_points == SETTINGS
                dev.Binning = 2
                dev.ExposureTime = 1.5
            with DeviceServer("memo", database.tango_host, tmp_path) as server:
                dev = server.wait_for(DEVICE)
                wait_until(lambda: dev.State() == tango.DevState.ON, 20, "device ON")
                assert (dev.Binning, dev.ExposureTime) == (2, 1.5)
                dev.Expose(-1)  # the memorized time and binning
                wait_until(lambda: dev.State() == tango.DevState.RUNNING, 5, "exposing")
                assert "Expose 1.5 s, binning 2" in dev.Status()
                dev.Abort()
    finally:
        database.stop()
