"""Tango device servers for the benchmarks, each in a process of its own, and how to drive them.

Every server runs in a child process started by a forkserver (see `tango_server.tools.testing`) that
has numpy, tango and the device classes imported already, so a server is up in a fraction of a
second.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tango  # type: ignore[import-untyped]

from tango_server.tools import testing

__all__ = ["Properties", "device_server", "device_servers", "drain", "prepare_frame", "read_frame"]

Properties = dict[str, Any]

multiprocessing.set_forkserver_preload(
    ["numpy", "tango", "tango_server.device", "benchmarks.device"]
)

READ = np.frombuffer(b"READ", np.uint8)
WAIT_MS = 2000
_READY_TIMEOUT = 20.0


@contextlib.contextmanager
def device_server(device_class: type, properties: Properties) -> Iterator[tango.DeviceProxy]:
    """One device of `device_class` with these properties, in its own server process."""
    with testing.device_server(device_class, properties) as proxy:
        yield proxy


@contextlib.contextmanager
def device_servers(
    device_class: type, devices: dict[str, Properties]
) -> Iterator[list[tango.DeviceProxy]]:
    """Several devices (name -> properties) in one server process; their proxies, in order."""
    with testing.device_servers(device_class, devices) as proxies:
        yield [proxies[name] for name in devices]


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
