"""A Sardana Pool and MacroServer on loopback, for the CCDPC device: the demo, the tests and the
benchmark use it.

`SardanaStack` registers a Pool (``PoolPath``: the CCDPC controller's folder) and a MacroServer
with its Door in an embedded Tango database, starts them as child processes, defines the CCDPC
controller, its channel, a dummy motor and a measurement group, and sets the scan environment.
`Door.run` runs a macro through the Door's ``RunMacro`` and follows the Door's State events to
its end, with a deadline: no polling sleep per macro. Nothing here imports sardana (the Pool and
the MacroServer do, in their own processes).
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tango  # type: ignore[import-untyped]

from ..sardana import CONTROLLER_CLASS, CONTROLLER_DIR
from .embedded import DeviceServer, console_script, register_device, wait_until

__all__ = ["Door", "MacroFailed", "MacroRun", "SardanaServer", "SardanaStack", "sardana_stack"]

#: Element names the stack defines.
CONTROLLER = "ccdpcctrl"
CHANNEL = "ccdpc2d"
MOTOR_CONTROLLER = "dummymotctrl"
MOTOR = "mot01"
MEASUREMENT_GROUP = "mntgrp_ccdpc"
SCAN_FILE = "scan.h5"
#: Door messages that are kept (the levels its Tango attributes are named after).
_LEVELS = ("Output", "Info", "Warning", "Error", "Critical")
#: The last lines of a failed macro's output that `MacroFailed` says.
_OUTPUT_LINES = 12


class MacroFailed(RuntimeError):
    """A macro ended in an exception (the Door went to ALARM), or did not end in time."""

    def __init__(self, message: str, run: MacroRun) -> None:
        super().__init__(message)
        self.run = run


@dataclass
class MacroRun:
    """What one macro printed, by level, and how it ended (the Door's last state)."""

    macro: list[str]
    state: Any = None
    lines: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in _LEVELS})
    seconds: float = 0.0

    @property
    def errors(self) -> str:
        return "\n".join(self.lines["Error"] + self.lines["Critical"])

    @property
    def output(self) -> str:
        return "\n".join(self.lines["Output"] + self.lines["Info"] + self.lines["Warning"])


class SardanaServer(DeviceServer):
    """A ``Pool`` or ``MacroServer`` server started by name, its log in `folder`."""

    def __init__(self, program: str, instance: str, tango_host: str, folder: Path) -> None:
        super().__init__(instance, tango_host, folder)
        self.argv = [
            console_script(program, "sardana"),
            instance,
            "-ORBendPoint",
            "giop:tcp:127.0.0.1:0",
        ]
        self.name = f"{program}/{instance}"
        self.log_path = folder / f"{program}-{instance}.log"


class Door:
    """A Door proxy that runs macros and waits for their end on the Door's events."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proxy = tango.DeviceProxy(name)
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._ids = [
            self.proxy.subscribe_event(attr, tango.EventType.CHANGE_EVENT, self._on_event)
            for attr in ("State", *_LEVELS)
        ]

    def _on_event(self, event: Any) -> None:
        if event.err or event.attr_value is None:
            return
        self._events.put((event.attr_value.name.lower(), event.attr_value.value))

    def run(self, *macro: str, timeout: float = 60.0, check: bool = True) -> MacroRun:
        """Run `macro` (name and arguments) and return once the Door is back to ON or ALARM.

        `check`: a macro that ends in ALARM (an exception) raises `MacroFailed`. Not ended in
        `timeout` seconds: the macro is aborted and `MacroFailed` raised."""
        return self.wait(self.start(*macro), timeout, check)

    def start(self, *macro: str) -> MacroRun:
        """Start `macro`; `wait` follows it to its end. One macro at a time (the Door runs one)."""
        while not self._events.empty():  # what earlier macros left
            self._events.get_nowait()
        run = MacroRun(list(macro))
        run.seconds = time.monotonic()
        self.proxy.RunMacro(list(macro))
        return run

    def wait(self, run: MacroRun, timeout: float = 60.0, check: bool = True) -> MacroRun:
        """Wait for the macro `start` began to end (see `run`); `run.seconds` is how long it
        took from its start."""
        started = run.seconds
        deadline, running = time.monotonic() + timeout, False
        while run.state is None:
            try:
                name, value = self._events.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                self.proxy.AbortMacro()
                what = " ".join(run.macro)
                raise MacroFailed(f"{what} did not end within {timeout:g} s", run) from None
            if name == "state":
                running = running or value == tango.DevState.RUNNING
                if running and value in (tango.DevState.ON, tango.DevState.ALARM):
                    run.state = value
            elif value is not None:
                run.lines[name.capitalize()].extend(str(line) for line in value)
        run.seconds = time.monotonic() - started
        if check and run.state == tango.DevState.ALARM:
            # ct says why only in its output (the channels' Status); the error is generic.
            output = "\n".join(run.output.splitlines()[-_OUTPUT_LINES:])
            raise MacroFailed(f"{' '.join(run.macro)} failed: {run.errors}\n{output}", run)
        return run

    def stop(self) -> None:
        """Stop the macro under way (as Ctrl-C in spock)."""
        self.proxy.StopMacro()

    def close(self) -> None:
        for event_id in self._ids:
            try:
                self.proxy.unsubscribe_event(event_id)
            except tango.DevFailed:
                continue


@dataclass
class SardanaStack:
    """The Pool, MacroServer and Door started by `sardana_stack`, and the element names."""

    pool: Any
    macro_server: Any
    door: Door
    scan_dir: Path
    servers: tuple[SardanaServer, SardanaServer]
    channel: str = CHANNEL
    motor: str = MOTOR
    measurement_group: str = MEASUREMENT_GROUP

    @property
    def scan_file(self) -> Path:
        return self.scan_dir / SCAN_FILE

    def element(self, name: str) -> Any:
        """A proxy to a Pool element (channel, motor, measurement group) by its name."""
        _, encoded = self.pool.read_attribute("Elements").value
        for info in json.loads(encoded)["new"]:
            if info.get("name") == name:
                return tango.DeviceProxy(str(info["full_name"]))
        raise KeyError(f"no Pool element {name!r}")


@contextmanager
def sardana_stack(
    tango_host: str, device: str, folder: Path, instance: str = "ccdpc"
) -> Iterator[SardanaStack]:
    """Pool and MacroServer for `device` (a CCDPC device in the database at `tango_host`),
    with the controller, channel, dummy motor and measurement group defined; stopped after."""
    pool_name, ms_name, door_name = (f"{kind}/{instance}/1" for kind in ("pool", "ms", "door"))
    register_device(tango_host, f"Pool/{instance}", "Pool", pool_name, {})
    _put(tango_host, pool_name, {"PoolPath": [CONTROLLER_DIR]})
    register_device(tango_host, f"MacroServer/{instance}", "MacroServer", ms_name, {})
    environment = folder / "macroserver_env"
    _put(tango_host, ms_name, {"PoolNames": [pool_name], "EnvironmentDb": [str(environment)]})
    register_device(tango_host, f"MacroServer/{instance}", "Door", door_name, {})
    scan_dir = folder / "scans"
    scan_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        pool_server = SardanaServer("Pool", instance, tango_host, folder)
        stack.callback(pool_server.stop)
        pool_server.start()
        pool = pool_server.wait_for(pool_name, timeout=60)
        ms_server = SardanaServer("MacroServer", instance, tango_host, folder)
        stack.callback(ms_server.stop)
        ms_server.start()
        macro_server = ms_server.wait_for(ms_name, timeout=60)
        ms_server.wait_for(door_name, timeout=60)
        door = Door(f"tango://{tango_host}/{door_name}")
        stack.callback(door.close)
        wait_until(lambda: door.proxy.State() == tango.DevState.ON, 60, "Door ON")
        _define(door, device, scan_dir)
        yield SardanaStack(pool, macro_server, door, scan_dir, (pool_server, ms_server))


def _define(door: Door, device: str, scan_dir: Path) -> None:
    """The CCDPC controller and channel, a dummy motor, the measurement group and the scan
    environment, as a user types them in spock (docs/deploy.md shows the same)."""
    for macro in (
        ("defctrl", CONTROLLER_CLASS, CONTROLLER, "DeviceName", device),
        ("defelem", CHANNEL, CONTROLLER, "1"),
        ("defctrl", "DummyMotorController", MOTOR_CONTROLLER),
        ("defelem", MOTOR, MOTOR_CONTROLLER, "1"),
        ("defmeas", MEASUREMENT_GROUP, CHANNEL),
        ("senv", "ActiveMntGrp", MEASUREMENT_GROUP),
        ("senv", "ScanDir", str(scan_dir)),
        ("senv", "ScanFile", SCAN_FILE),
    ):
        door.run(*macro, timeout=30)


def _put(tango_host: str, device: str, properties: dict[str, Sequence[str]]) -> None:
    host, port = tango_host.rsplit(":", 1)
    tango.Database(host, int(port)).put_device_property(
        device, {key: list(value) for key, value in properties.items()}
    )
