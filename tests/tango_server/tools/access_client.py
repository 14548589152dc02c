"""A Tango client in a process of its own, for the access control tests: it tries everything on
the device and prints, as JSON, what it was allowed and refused.

``python -m tests.tango_server.tools.access_client reader <device> <user>``: the process takes
that user's identity (effective uid and gid) before its first Tango call (cppTango asks the
access service for the effective user, once per process). It is started as root and switches
itself, rather than being started as that user, because the shared interpreter lives where other
users may not read: so every module it needs is imported first. It reads every attribute,
subscribes to FrameNumber, says "subscribed" and, after a line on stdin (a frame is coming),
waits for the next event; then tries every command and every attribute write.

``... writer <device> [<user>]``: as the user it was started as (or as that user), takes a frame,
writes an attribute, calls commands.

Both access control tests (the stand-in service here, the real one in tests/facility/access.py)
drive it the same way, with `read_while_writing` and `assert_read_only` below; each starts the
processes its own way.
"""

from __future__ import annotations

import json
import os
import pwd
import queue
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import tango  # type: ignore[import-untyped]

# Imported by pytango on the first event: before the user changes, who may not read it.
import tango.server  # type: ignore[import-untyped]

#: A harmless argument per input type: a command that is not refused runs with it.
ARGUMENTS: dict[Any, Any] = {
    tango.CmdArgType.DevVoid: None,
    tango.CmdArgType.DevString: "IDENT",
    tango.CmdArgType.DevVarCharArray: b"IDENT",
    tango.CmdArgType.DevDouble: -1.0,
    tango.CmdArgType.DevLong: 0,
}
EVENT_WAIT = 15.0


def _reason(call: Any) -> str:
    try:
        call()
    except tango.DevFailed as exc:
        return str(exc.args[0].reason)
    return "allowed"


def _become(user: str) -> None:
    account = pwd.getpwnam(user)
    os.setegid(account.pw_gid)
    os.seteuid(account.pw_uid)


def reader(device: str, user: str) -> dict[str, Any]:
    """Everything a client can try; what it was refused, by reason."""
    _become(user)
    dev = tango.DeviceProxy(device)
    result: dict[str, Any] = {"user": pwd.getpwuid(os.geteuid()).pw_name}
    result["unreadable"] = [
        name
        for name in dev.get_attribute_list()
        if _reason(lambda n=name: dev.read_attribute(n)) != "allowed"
    ]
    events: queue.Queue[int] = queue.Queue()

    def push(event: Any) -> None:
        if not event.err:
            events.put(int(event.attr_value.value))

    event_id = dev.subscribe_event("FrameNumber", tango.EventType.CHANGE_EVENT, push)
    first = events.get(timeout=EVENT_WAIT)
    print("subscribed", flush=True)
    sys.stdin.readline()  # the test has started a frame
    later = events.get(timeout=EVENT_WAIT)
    dev.unsubscribe_event(event_id)
    result["events"] = [first, later]
    result["commands"] = {
        info.cmd_name: _reason(
            lambda i=info: dev.command_inout(i.cmd_name, ARGUMENTS.get(i.in_type))
        )
        for info in dev.command_list_query()
    }
    writable = [
        info.name
        for info in dev.attribute_list_query()
        if info.writable != tango.AttrWriteType.READ
    ]
    result["writes"] = {
        name: _reason(lambda n=name: dev.write_attribute(n, dev.read_attribute(n).value))
        for name in writable
    }
    config = dev.get_attribute_config("FrameNumber")
    label, config.label = config.label, "changed by a reader"
    result["set_attribute_config"] = _reason(lambda: dev.set_attribute_config(config))
    config.label = label
    _reason(lambda: dev.set_attribute_config(config))
    result["state"] = str(dev.state())  # the CORBA attribute, not the command
    return result


def writer(device: str, user: str = "") -> dict[str, Any]:
    """A frame taken, an attribute written, a command and State() called (as `user`, if
    given)."""
    if user:
        _become(user)
    dev = tango.DeviceProxy(device)
    return {
        "user": pwd.getpwuid(os.geteuid()).pw_name,
        "write ExposureTime": _reason(lambda: dev.write_attribute("ExposureTime", 0.0)),
        "Acquire": _reason(lambda: dev.Acquire(-1.0)),
        "Command": _reason(lambda: dev.Command("IDENT")),
        "State": _reason(dev.State),
        "state()": _reason(dev.state),
        "read": _reason(lambda: dev.read_attribute("FrameNumber")),
    }


# -- driving it ----------------------------------------------------------------------------------

Start = Callable[..., "subprocess.Popen[str]"]
Run = Callable[..., dict[str, Any]]


def read_while_writing(
    start: Start, run: Run, device: str, user: str, timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A reader as `user`, subscribed to FrameNumber, while a writer takes a frame: what each
    found. `start(role, *args)` starts a client, `run(role, *args)` runs one and returns what it
    printed; the reader is killed if anything fails on the way."""
    reader = start("reader", device, user)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        line = reader.stdout.readline()
        if line != "subscribed\n":
            reader.kill()
            out, err = reader.communicate(timeout=10)
            raise AssertionError(f"the reader said {line!r}, then {out}{err[-2000:]}")
        wrote = run("writer", device)  # a frame: the reader's next event
        reader.stdin.write("the frame is coming\n")
        reader.stdin.flush()
        out, err = reader.communicate(timeout=timeout)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err[-2000:]
    read: dict[str, Any] = json.loads(out.splitlines()[-1])
    return read, wrote


def assert_read_only(read: dict[str, Any], user: str) -> dict[str, str]:
    """What a read-only user's reader must have found: every attribute read, the frame's event,
    every command but State and Status and every attribute write refused (API_ReadOnlyMode),
    set_attribute_config allowed (not an access-controlled call). Returns the refused commands."""
    assert read["user"] == user, read
    assert read["unreadable"] == [], read
    first, later = read["events"]
    assert later == first + 1, read["events"]  # the writer's frame
    commands: dict[str, str] = dict(read["commands"])
    assert {commands.pop("State"), commands.pop("Status")} == {"allowed"}, read["commands"]
    assert set(commands.values()) == {"API_ReadOnlyMode"}, read["commands"]
    assert set(read["writes"].values()) == {"API_ReadOnlyMode"}, read["writes"]
    assert read["set_attribute_config"] == "allowed", read
    return commands


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    print(json.dumps(reader(*args) if role == "reader" else writer(*args)), flush=True)
