"""Deployment as a beamline does it: the repository's dsconfig JSON registered in a Tango
database (the embedded sqlite one), the server started by name, the device configured by it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tango  # type: ignore[import-untyped]

from ccdpc.sim import Simulator
from tango_server.tools.embedded import (
    DeviceServer,
    EmbeddedDatabase,
    register_dsconfig,
    wait_until,
)

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "ccdpc-dsconfig.json"
DEVICE = "bl/kappaccd/pc"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[EmbeddedDatabase]:
    db = EmbeddedDatabase(tmp_path)
    try:
        db.start()
        yield db
    finally:
        db.stop()


def test_dsconfig_file_registers_and_runs(database: EmbeddedDatabase, tmp_path: Path) -> None:
    config = json.loads(CONFIG.read_text())
    with Simulator(protocol=2, port=0) as sim:
        overrides = {DEVICE: {"Host": sim.host, "Port": sim.port, "DataFolder": tmp_path}}
        assert register_dsconfig(database.tango_host, config, overrides) == [DEVICE]
        host, port = database.tango_host.split(":")
        db = tango.Database(host, int(port))
        assert list(db.get_server_list("CCDPC/*")) == ["CCDPC/kappa"]
        stored = db.get_device_property(DEVICE, ["AutoConnect", "PacketTimeout", "Port"])
        assert stored == {"AutoConnect": ["true"], "PacketTimeout": ["5"], "Port": [str(sim.port)]}
        with DeviceServer("kappa", database.tango_host, tmp_path) as server:
            dev = server.wait_for(DEVICE)
            wait_until(lambda: dev.State() == tango.DevState.ON, 20, "device ON")
            assert dev.ProtocolVersion == 2
            assert dev.Host == sim.host and dev.Port == sim.port
            assert dev.Command("STATUS").startswith("IDLE")
            alarms = dev.get_attribute_config("Temperature").alarms
            assert (alarms.min_alarm, alarms.max_alarm) == ("-80", "-40")
        assert not server.running


def test_a_dead_server_says_where_its_log_is(database: EmbeddedDatabase, tmp_path: Path) -> None:
    # Not registered: the server refuses to start, and the wait says so instead of hanging.
    server = DeviceServer("nowhere", database.tango_host, tmp_path)
    with server, pytest.raises(RuntimeError, match="exited; see"):
        server.wait_for("bl/kappaccd/nowhere", timeout=20)
