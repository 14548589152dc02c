"""A real Sardana for the controller tests: the simulator, an embedded Tango database, the CCDPC
device server, a Pool and a MacroServer, started once per module (a Pool and a MacroServer take
seconds to start) and stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tango  # type: ignore[import-untyped]

from ccdpc.sim import Simulator
from tango_server.tools.embedded import (
    DeviceServer,
    EmbeddedDatabase,
    register_device,
    wait_until,
)
from tango_server.tools.sardana_stack import SardanaStack, sardana_stack

DEVICE = "ccdpc/sardana/1"
SEED = 2026


@dataclass
class Rig:
    """Everything a test needs: the simulator, the device, the Sardana stack."""

    sim: Simulator
    device: Any
    stack: SardanaStack
    server: DeviceServer
    folder: Path

    @property
    def channel(self) -> Any:
        return self.stack.element(self.stack.channel)

    def device_on(self, timeout: float = 30.0) -> None:
        wait_until(lambda: self.device.State() == tango.DevState.ON, timeout, "device ON")

    def device_ready(self, timeout: float = 30.0) -> None:
        """Connected and idle: ON, or ALARM while it says why the last acquisition failed."""
        ready = (tango.DevState.ON, tango.DevState.ALARM)
        wait_until(lambda: self.device.State() in ready, timeout, "device ON or ALARM")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    folder = tmp_path_factory.mktemp("sardana")
    with Simulator(protocol=3, port=0, seed=SEED) as sim:
        database = EmbeddedDatabase(folder)
        try:
            database.start()
            register_device(
                database.tango_host,
                "CCDPC/sardana",
                "CCDPC",
                DEVICE,
                {
                    "Host": sim.host,
                    "Port": sim.port,
                    "DataFolder": folder,
                    # A stalled PC is declared lost after 2 s, not the default 5 (and not less:
                    # a loaded machine can take a second to answer).
                    "FirstPacketTimeout": 2.0,
                    "PacketTimeout": 2.0,
                },
            )
            with DeviceServer("sardana", database.tango_host, folder) as server:
                device = server.wait_for(DEVICE)
                wait_until(lambda: device.State() == tango.DevState.ON, 30, "device ON")
                with sardana_stack(database.tango_host, DEVICE, folder) as stack:
                    yield Rig(sim, device, stack, server, folder)
        finally:
            database.stop()
