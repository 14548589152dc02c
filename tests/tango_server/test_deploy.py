"""Deployment as a beamline does it: the repository's dsconfig JSON registered in a Tango
database (the embedded sqlite one), the server started by name, the device configured by it.
The real stack (MariaDB, DataBaseds, Starter) is tests/facility's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tango  # type: ignore[import-untyped]

from ccdpc.sim import Simulator
from tango_server.tools.embedded import (
    DeviceServer,
    EmbeddedDatabase,
    register_device,
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


def test_json2tango_registers_the_file(database: EmbeddedDatabase, tmp_path: Path) -> None:
    """The real dsconfig tool on the repository's file: the exit codes docs/deploy.md gives."""
    # Beside this interpreter (a venv's console script), else on PATH.
    json2tango = shutil.which("json2tango", path=str(Path(sys.executable).parent)) or shutil.which(
        "json2tango"
    )
    if json2tango is None:
        pytest.skip("dsconfig is not installed (it is in the test extra)")
    env = dict(os.environ, TANGO_HOST=database.tango_host)

    def run(*args: str) -> int:
        command = [json2tango, *args, str(CONFIG)]
        return subprocess.run(command, env=env, capture_output=True, check=False).returncode

    assert run() == 3  # a dry run that would change the database
    assert run("--write", "--update") == 2  # written
    assert run("--update") == 0  # nothing left to do
    host, port = database.tango_host.split(":")
    db = tango.Database(host, int(port))
    assert db.get_device_property(DEVICE, ["Host"]) == {"Host": ["kappa-pc.beamline.example"]}
    db.put_device_property(DEVICE, {"Comment": ["added by hand"]})
    assert run("--update") == 0  # -u: properties the file does not name are kept
    assert run() == 3  # without -u, the file would replace the device's configuration


def test_a_bad_data_folder_is_fault_until_fixed(database: EmbeddedDatabase, tmp_path: Path) -> None:
    missing = tmp_path / "not-yet"
    properties = {"Host": "127.0.0.1", "Port": 1, "AutoConnect": False, "DataFolder": missing}
    register_device(database.tango_host, "CCDPC/kappa", "CCDPC", DEVICE, properties)
    with DeviceServer("kappa", database.tango_host, tmp_path) as server:
        dev = server.wait_for(DEVICE)
        assert dev.State() == tango.DevState.FAULT
        assert f"Property DataFolder: '{missing}' does not exist" in dev.Status()
        missing.mkdir()
        dev.Init()  # the same server, still up
        assert dev.State() == tango.DevState.OFF  # configured; AutoConnect false: not connected
        assert server.running
