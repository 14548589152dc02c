"""A Tango control system on loopback, from nothing: an sqlite Tango database (`PyDatabaseds` of
the pytango-db package) and device servers as child processes, started and stopped cleanly.

The demo uses it, and so do the tests that deploy the device the way a beamline does (registered
in a database, started by name). Every wait is bounded; children are stopped in reverse order.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import tango  # type: ignore[import-untyped]

__all__ = [
    "Child",
    "DeviceServer",
    "EmbeddedDatabase",
    "console_script",
    "register_device",
    "register_dsconfig",
    "wait_until",
]

_DB_LISTENING = re.compile(r"Database DS listening on: host=(\S+), port=(\d+)")


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `condition()` until it is true; after `timeout` seconds raise `TimeoutError(what)`."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except tango.DevFailed as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout:g} s" + (f": {last}" if last else ""))


class Child:
    """A child process whose output goes to a log file; lines matching a pattern are reported."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        watch: re.Pattern[str] | None = None,
    ) -> None:
        self.name, self.argv, self.log_path = name, list(argv), log
        self.env = dict(os.environ if env is None else env)
        self._watch = watch
        self._matches: queue.Queue[re.Match[str]] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            # Its own process group: a Ctrl-C reaches the parent only, which stops the
            # children in order instead of having them die in a race.
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self._pump = threading.Thread(
            target=self._copy, args=(self.process.stdout,), name=f"{self.name}-log", daemon=True
        )
        self._pump.start()

    def _copy(self, stream: IO[str]) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            for line in stream:
                log.write(line)
                log.flush()
                if self._watch is not None and (match := self._watch.search(line)):
                    self._matches.put(match)

    def expect(self, timeout: float) -> re.Match[str]:
        """The first output line matching the watch pattern (bounded wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self._matches.get(timeout=0.1)
            except queue.Empty:
                if self.process is not None and self.process.poll() is not None:
                    break
        raise RuntimeError(f"{self.name} did not start; see {self.log_path}:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (SIGINT for a Tango server, which shuts down cleanly on it), then SIGKILL."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._pump is not None:
            self._pump.join(timeout)


class EmbeddedDatabase(Child):
    """The sqlite Tango database server on 127.0.0.1 and a free port; its file in `folder`."""

    def __init__(self, folder: Path) -> None:
        env = dict(os.environ, PYTANGO_DATABASE_NAME=str(folder / "tango_database.db"))
        env.pop("TANGO_HOST", None)
        argv = [
            console_script("PyDatabaseds"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--print-host-port",
            "2",
        ]
        super().__init__("database", argv, folder / "database.log", env, _DB_LISTENING)
        self.tango_host = ""

    def start(self, timeout: float = 30.0) -> None:
        super().start()
        match = self.expect(timeout)
        self.tango_host = f"{match[1]}:{match[2]}"
        host, port = match[1], int(match[2])
        wait_until(lambda: tango.Database(host, port).get_info(), timeout, "Tango database")


class DeviceServer(Child):
    """A device server started by name, as Tango Starter would: ``CCDPC <instance>``."""

    def __init__(self, instance: str, tango_host: str, folder: Path) -> None:
        env = dict(os.environ, TANGO_HOST=tango_host)
        argv = [
            sys.executable,
            "-m",
            "tango_server",
            instance,
            "-ORBendPoint",
            "giop:tcp:127.0.0.1:0",
        ]
        super().__init__(f"CCDPC/{instance}", argv, folder / f"CCDPC-{instance}.log", env)
        self.tango_host = tango_host

    def wait_for(self, device: str, timeout: float = 30.0) -> tango.DeviceProxy:
        """A proxy to `device` once it answers (and its server still runs)."""
        proxies: list[tango.DeviceProxy] = []

        def answers() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}:\n{self.tail()}")
            if not proxies:  # fails until the server has exported the device
                proxies.append(tango.DeviceProxy(f"tango://{self.tango_host}/{device}"))
            proxies[0].ping()
            return True

        wait_until(answers, timeout, f"device {device}")
        return proxies[0]

    def __enter__(self) -> DeviceServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def register_device(
    tango_host: str,
    server: str,
    device_class: str,
    device: str,
    properties: Mapping[str, object],
) -> None:
    """Add `device` of `device_class` to server `server` (``"CCDPC/demo"``) with its properties."""
    host, port = tango_host.rsplit(":", 1)
    db = tango.Database(host, int(port))
    info = tango.DbDevInfo()
    info.name, info._class, info.server = device, device_class, server
    db.add_device(info)
    db.put_device_property(device, {k: [str(v)] for k, v in properties.items()})


def register_dsconfig(
    tango_host: str,
    config: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> list[str]:
    """Register every device of a dsconfig JSON document (``{"servers": {server: {instance:
    {class: {device: {"properties": ..., "attribute_properties": ...}}}}}}``), as the dsconfig
    tool would; `overrides` replaces properties per device. Returns the device names."""
    host, port = tango_host.rsplit(":", 1)
    db = tango.Database(host, int(port))
    devices = []
    for server, instances in config["servers"].items():
        for instance, classes in instances.items():
            for device_class, members in classes.items():
                for device, spec in members.items():
                    properties = {k: list(v) for k, v in spec.get("properties", {}).items()}
                    for key, value in (overrides or {}).get(device, {}).items():
                        properties[key] = [str(value)]
                    register_device(tango_host, f"{server}/{instance}", device_class, device, {})
                    db.put_device_property(device, properties)
                    attributes = spec.get("attribute_properties", {})
                    if attributes:
                        db.put_device_attribute_property(device, attributes)
                    devices.append(device)
    return devices


def console_script(name: str, extra: str = "demo (pytango-db)") -> str:
    """A console script of this Python environment (beside the interpreter), else from PATH;
    missing: the error names the `extra` that brings it."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the {extra} extra")
    return found
