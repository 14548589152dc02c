"""The facility test's Tango Access Control step (docs/deploy.md, section 9; docs/security.md):
the real TangoAccessControl of Debian 12 on the run's MariaDB, with clients as real OS users.

It shows the MariaDB 10.11 fault (a rule cannot be added until the `updated` columns have a
default) and its fix; then, with rules for `nobody` (read), the user running the test (write) and
`daemon` (write, but its only address 127.0.0.1), and the service registered: `nobody` reads
every attribute and gets FrameNumber events, and every command but State and Status and every
attribute write is refused (API_ReadOnlyMode), set_attribute_config not; the writer works;
`daemon` is read-only. With the service registered but down, every command is refused, State
too. On the way out every rule it added is removed, CtrlSystem/Services is put back as it was
and the service is stopped, whatever failed.

The clients are `tests/tango_server/tools/access_client.py`, run with the guide's venv (Debian's
python3, which every user may run) as the users themselves, each in its own process, as cppTango
keeps a process's rights.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

import tango  # type: ignore[import-untyped]

from tango_server.tools.accesscontrol import temporary_rules
from tests.tango_server.tools.access_client import assert_read_only, read_while_writing

from .guide import DEVICE, REPO, Run
from .stack import Child, wait_for

SERVICE = "sys/access_control/1"
#: Who the clients are: the user who may only read, the one whose only address is loopback.
READER, LOOPBACK = "nobody", "daemon"
CLIENT = REPO / "tests" / "tango_server" / "tools" / "access_client.py"
CLIENT_SECONDS = 90.0
UPDATED_DEFAULT = (
    "ALTER TABLE tango.{} MODIFY updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP;"
)


def access_control(run: Run) -> None:
    """The step: see the module's docstring."""
    stack = run.stack
    stack.apt_install(["tango-accesscontrol"])
    service_server = _start_service(run)
    db = tango.Database()
    services_before = list(db.get_property("CtrlSystem", ["Services"])["Services"])
    service = tango.DeviceProxy(SERVICE)
    try:
        _updated_needs_a_default(run, service)
        writer = pwd.getpwuid(os.geteuid()).pw_name
        rules = [(READER, "*/*/*", "read"), (writer, "*/*/*", "write"),
                 (LOOPBACK, "*/*/*", "write"), ("tango", "*/*/*", "write")]  # fmt: skip
        with temporary_rules(service, [(LOOPBACK, "127.0.0.1")], rules):
            service.RegisterService()
            _clients(run, writer)
        assert list(service.GetDeviceByUser(READER)) == [], "a rule was left behind"
        service_server.stop()
        down = _client(run, "writer", DEVICE)
        assert down["State"] == down["Command"] == "API_ReadOnlyMode", down
        assert down["read"] == "allowed", down
        run.say("service registered but down: every command refused, State too; reads work")
    finally:
        db.put_property("CtrlSystem", {"Services": services_before})
        service_server.stop()
    assert list(db.get_property("CtrlSystem", ["Services"])["Services"]) == services_before


def _start_service(run: Run) -> Child:
    """TangoAccessControl 1, as Debian's init script runs it: user tango, SUPER_TANGO=true."""
    stack = run.stack
    child = stack.spawn(
        "TangoAccessControl",
        ["/usr/lib/tango/TangoAccessControl", "1", "-ORBendPoint", "giop:tcp:127.0.0.1:"],
        user="tango",
        env=dict(stack.database_env(), SUPER_TANGO="true"),
    )
    service = tango.DeviceProxy(SERVICE)
    wait_for(lambda: service.ping() >= 0, 60, f"TangoAccessControl ({child.tail()})")
    return child


def _updated_needs_a_default(run: Run, service: Any) -> None:
    """MariaDB 10.11: no rule can be added until the `updated` columns have a default."""
    try:
        service.AddAddressForUser([LOOPBACK, "10.255.255.*"])
    except tango.DevFailed as exc:
        assert "Field 'updated' doesn't have a default value" in exc.args[0].desc, exc
        run.stack.sql(UPDATED_DEFAULT.format("access_address") + UPDATED_DEFAULT.format(
            "access_device"))  # fmt: skip
        run.say("MariaDB 10.11: 'updated' had no default; ALTER TABLE as the guide says")
    else:  # a database fixed before: nothing to show, and nothing left behind
        service.RemoveAddressForUser([LOOPBACK, "10.255.255.*"])
        run.say("the 'updated' columns already have a default")


def _clients(run: Run, writer: str) -> None:
    read, wrote = read_while_writing(
        lambda *args: _start_client(run, *args),
        lambda *args: _client(run, *args),
        DEVICE,
        READER,
        CLIENT_SECONDS,
    )
    assert set(wrote.values()) == {"allowed", writer}, wrote
    commands = assert_read_only(read, READER)
    loopback = _client(run, "writer", DEVICE, LOOPBACK)
    assert loopback["Command"] == loopback["write ExposureTime"] == "API_ReadOnlyMode", loopback
    first, later = read["events"]
    run.say(f"{READER}: reads, FrameNumber events {first} -> {later}, {len(commands)} commands "
            f"and {len(read['writes'])} writes refused, set_attribute_config not; {writer} "
            f"writes; {LOOPBACK} (address 127.0.0.1 only) read-only")  # fmt: skip


def _argv(run: Run, role: str, *args: str) -> list[str]:
    """The client as `args[-1]`'s OS user (a reader), or as the test's user."""
    script = run.stack.work / CLIENT.name
    if not script.exists():  # where every user may read it
        shutil.copy(CLIENT, script)
        script.chmod(0o644)
    python = [run.bin("python"), str(script), role, *args]
    if role == "reader" or len(args) > 1:
        user = args[-1]
        return ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}",
                "--clear-groups", *python]  # fmt: skip
    return python


def _start_client(run: Run, role: str, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        _argv(run, role, *args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=run.stack.env,
        cwd=run.stack.work,
    )
    run.stack.adopt(f"access client {role}", process.pid, Path("/dev/null"))
    return process


def _client(run: Run, role: str, *args: str) -> dict[str, Any]:
    process = _start_client(run, role, *args)
    out, err = process.communicate(timeout=CLIENT_SECONDS)
    assert process.returncode == 0, err[-2000:]
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result
