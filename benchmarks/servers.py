"""Tango device servers for the benchmarks, each in a process of its own, and how to drive them.

As in tests/tango_server/devices.py: every server runs in a child process (two servers in one
process crash), started by a forkserver that has numpy, tango and the device classes imported
already, so a server is up in a fraction of a second, and that does not inherit the benchmark's
sockets.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tango  # type: ignore[import-untyped]
from tango.test_context import (  # type: ignore[import-untyped]
    DeviceTestContext,
    MultiDeviceTestContext,
)

__all__ = ["Properties", "device_server", "device_servers", "drain", "prepare_frame", "read_frame"]

Properties = dict[str, Any]

multiprocessing.set_forkserver_preload(
    ["numpy", "tango", "tango_server.device", "benchmarks.device"]
)

READ = np.frombuffer(b"READ", np.uint8)
WAIT_MS = 2000
_READY_TIMEOUT = 20.0


@contextlib.contextmanager
def _forkserver() -> Iterator[None]:
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("forkserver", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(previous, force=True)


@contextlib.contextmanager
def device_server(device_class: type, properties: Properties) -> Iterator[tango.DeviceProxy]:
    """One device of `device_class` with these properties, in its own server process."""
    with _forkserver():
        context = DeviceTestContext(device_class, properties=properties, process=True, debug=0)
        proxy = context.__enter__()
    try:
        yield proxy
    finally:
        context.__exit__(None, None, None)


@contextlib.contextmanager
def device_servers(
    device_class: type, devices: dict[str, Properties]
) -> Iterator[list[tango.DeviceProxy]]:
    """Several devices (name -> properties) in one server process; their proxies, in order."""
    entries = [{"name": name, "properties": props} for name, props in devices.items()]
    with _forkserver():
        context = MultiDeviceTestContext(
            [{"class": device_class, "devices": entries}], process=True, debug=0
        )
        context.__enter__()
    try:
        yield [context.get_device(name) for name in devices]
    finally:
        context.__exit__(None, None, None)


def wait_for(condition: Callable[[], object], what: str, timeout: float = _READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what}")
        time.sleep(0.01)


def drain(dev: tango.DeviceProxy) -> None:
    """Fetch every message pending in the device (the events of an exposure)."""
    while dev.PendingPackets:
        dev.Receive(0)


def prepare_frame(dev: tango.DeviceProxy, binning: int = 1) -> None:
    """Through the device: take a frame (exposure 0), wait until IDLE, drop the events."""
    wait_for(lambda: str(dev.State()) == "ON", "the device connected")
    dev.Command(f"EXPOSE 0 {binning}")
    wait_for(lambda: dev.Command("STATUS").startswith("IDLE"), "the frame read out")
    drain(dev)


def read_frame(dev: tango.DeviceProxy) -> int:
    """One frame through the device, as a client must do it today (there is no Frame attribute):
    Send READ, Receive its reply, Receive the data. Returns the data's size."""
    dev.Send(READ)
    dev.Receive(WAIT_MS)
    return len(dev.Receive(WAIT_MS))
