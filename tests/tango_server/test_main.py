"""The two ways to start the server: ``CCDPC <instance>``, ``python -m tango_server <instance>``."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator

from .conftest import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_console_script_names_the_server() -> None:
    script = shutil.which("CCDPC", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the CCDPC console script is not installed (pip install -e .)")
    usage = subprocess.run([script, "-?"], capture_output=True, text=True, timeout=30, check=True)
    assert usage.stdout.startswith("usage: CCDPC instance_name")


def test_python_m_runs_a_device_server(tmp_path: Path) -> None:
    database = tmp_path / "ccdpc.db"
    database.write_text("CCDPC/test/DEVICE/CCDPC: test/main/ccdpc\n")
    port = free_port()
    with Simulator(protocol=2) as sim:
        tango.Database(str(database)).put_device_property("test/main/ccdpc", {"Host": sim.hostname})
        server = subprocess.Popen(
            [sys.executable, "-m", "tango_server", "test", f"-file={database}",
             "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            name = f"tango://127.0.0.1:{port}/test/main/ccdpc#dbase=no"
            proxies: list[tango.DeviceProxy] = []

            def on() -> bool:
                try:
                    proxies[:] = [tango.DeviceProxy(name)]
                    return bool(proxies[0].State() == DevState.ON)
                except (tango.DevFailed, AttributeError):  # not up yet
                    return False

            wait_until(on, 20, "the server up and connected")
            dev = proxies[0]
            assert dev.info().server_id == "CCDPC/test"
            assert dev.Command("IDENT").startswith("KAPPACCD-SIM ")
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
