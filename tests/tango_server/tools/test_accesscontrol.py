"""Tango Access Control with the CCDPC device, on the embedded database: a stand-in
TangoAccessControl device (`tango_server.tools.accesscontrol`, answering as the real one) named
in the free property CtrlSystem/Services, and clients in processes of their own, since each
caches its rights.

A user with a read rule for every device (`nobody`) reads every attribute and gets FrameNumber
events (the DServer class allowing the event subscription commands); every command but State and
Status, and every attribute write, is refused in its client with API_ReadOnlyMode, while
set_attribute_config is not. A user with write rights uses the device as ever; one whose only
address rule is 127.0.0.1 is read-only. With the service down, every client is read-only, with no
command allowed, State neither. The facility test (tests/facility/access.py) checks the same
with the real TangoAccessControl 9.3.4.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tango  # type: ignore[import-untyped]

from ccdpc.sim import Simulator
from tango_server.tools.accesscontrol import temporary_rules
from tango_server.tools.embedded import (
    Child,
    DeviceServer,
    EmbeddedDatabase,
    register_device,
    wait_until,
)

from .access_client import assert_read_only, read_while_writing

DEVICE = "test/ccdpc/1"
ACCESS = "sys/access_control/1"
READER = "nobody"
#: The user the tests run as, who gets a write rule of its own.
WRITER = pwd.getpwuid(os.geteuid()).pw_name
#: A user whose only address rule is loopback.
LOOPBACK = "daemon"
#: The real tables' first rows (every user writes, from anywhere), a read rule for the reader, on
#: the admin devices too, and a write rule of its own for the writer.
ADDRESSES = ["* *.*.*.*"]
DEVICES = ["* */*/* write", f"{READER} */*/* read", f"{WRITER} */*/* write"]
#: Read-only clients subscribe to events through the admin device (the MariaDB Tango database's
#: install script allows these and more; the sqlite one nothing); of CCDPC they need nothing
#: (docs/security.md says why), so its AllowedAccessCmd stays unset.
SUBSCRIBE = ["ZmqEventSubscriptionChange", "EventConfirmSubscription"]
CLIENT_SECONDS = 60.0
#: Where ``python -m tests...`` finds the client module.
ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0, reason="needs root, to run a client as another user"
)


class Facility:
    """The database, the stand-in access service and the CCDPC server."""

    def __init__(self, folder: Path, tango_host: str, access: Child) -> None:
        self.folder, self.tango_host, self.access = folder, tango_host, access
        self.env = dict(os.environ, TANGO_HOST=tango_host)

    def client(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.tango_server.tools.access_client", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=ROOT,
        )

    def run(self, *args: str) -> dict[str, Any]:
        process = self.client(*args)
        out, err = process.communicate(timeout=CLIENT_SECONDS)
        assert process.returncode == 0, err[-2000:]
        result: dict[str, Any] = json.loads(out.splitlines()[-1])
        return result


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Facility]:
    folder = tmp_path_factory.mktemp("access")
    database = EmbeddedDatabase(folder)
    database.start()
    th = database.tango_host
    host, port = th.split(":")
    db = tango.Database(host, int(port))
    access = Child(
        "TangoAccessControl/test",
        [sys.executable, "-m", "tango_server.tools.accesscontrol", "test", "-ORBendPoint",
         "giop:tcp:127.0.0.1:0"],
        folder / "access.log",
        dict(os.environ, TANGO_HOST=th),
    )  # fmt: skip
    try:
        with Simulator(protocol=2) as sim:
            register_device(th, "TangoAccessControl/test", "TangoAccessControl", ACCESS, {})
            db.put_device_property(ACCESS, {"AccessAddress": ADDRESSES, "AccessDevice": DEVICES})
            db.put_class_property("DServer", {"AllowedAccessCmd": SUBSCRIBE})
            register_device(th, "CCDPC/test", "CCDPC", DEVICE, {"Host": sim.hostname})
            access.start()
            with DeviceServer("test", th, folder) as server:
                dev = server.wait_for(DEVICE)
                service = tango.DeviceProxy(f"tango://{th}/{ACCESS}")
                wait_until(lambda: service.ping() >= 0, 30, "the access service")
                wait_until(lambda: dev.State() == tango.DevState.ON, 20, "device ON")
                db.put_property("CtrlSystem", {"Services": [f"AccessControl/tango:{ACCESS}"]})
                yield Facility(folder, th, access)
    finally:
        access.stop()
        database.stop()


def test_a_read_only_user_reads_and_gets_events_but_changes_nothing(facility: Facility) -> None:
    read, wrote = read_while_writing(facility.client, facility.run, DEVICE, READER, CLIENT_SECONDS)
    commands = assert_read_only(read, READER)
    assert {"Send", "Receive", "Command", "Acquire", "Init"} <= set(commands)
    assert {"ExposureTime", "Binning", "Tracing", "NbFrames", "SavingMode"} <= set(read["writes"])
    assert read["state"] == "ON"
    assert set(wrote.values()) == {"allowed", WRITER}


def test_what_the_client_asks_the_service(facility: Facility) -> None:
    service = tango.DeviceProxy(f"tango://{facility.tango_host}/{ACCESS}")
    asked = [line for line in service.Requests if line.startswith(f"{READER} {DEVICE} ")]
    assert asked and all(line.endswith("-> read") for line in asked)
    addresses = {a for line in asked for a in line.split()[2].split(",")}
    assert addresses and not any(a.startswith("127.") for a in addresses), asked
    assert "allowed CCDPC -> State,Status" in service.Requests  # nothing of CCDPC's own


def test_an_address_rule_for_loopback_never_matches(facility: Facility) -> None:
    service = tango.DeviceProxy(f"tango://{facility.tango_host}/{ACCESS}")
    with temporary_rules(service, [(LOOPBACK, "127.0.0.1")], [(LOOPBACK, "*/*/*", "write")]):
        assert list(service.GetDeviceByUser(LOOPBACK)) == ["*/*/*", "write"]
        denied = facility.run("writer", DEVICE, LOOPBACK)
    assert denied["user"] == LOOPBACK
    assert denied["Command"] == denied["write ExposureTime"] == "API_ReadOnlyMode"
    assert denied["State"] == "allowed"
    # the rules added are gone again
    assert list(service.GetDeviceByUser(LOOPBACK)) == list(service.GetAddressByUser(LOOPBACK)) == []


def test_with_the_service_down_nobody_may_call_a_command(facility: Facility) -> None:
    facility.access.stop()
    writer = facility.run("writer", DEVICE)
    assert writer["State"] == writer["Command"] == "API_ReadOnlyMode"
    assert writer["write ExposureTime"] == "API_ReadOnlyMode"
    assert writer["state()"] == writer["read"] == "allowed"  # reads are never checked
