"""CCDPC devices served by a child process, reached through a real DeviceProxy.

Every device server runs in a process of its own (``DeviceTestContext(process=True)``): two
servers in one process crash. The child is not forked from the test process but started by a
forkserver: a forked child would inherit the test process's sockets, a simulator's listener
among them, and keep it open; a stopped simulator would then still accept connections (that never
get a greeting) and could not be started again on its port.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
import tango  # type: ignore[import-untyped]
from tango.test_context import (  # type: ignore[import-untyped]
    DeviceTestContext,
    MultiDeviceTestContext,
)

from tango_server import CCDPC

# Imported once by the forkserver, so that every device server starts in a fraction of a second.
multiprocessing.set_forkserver_preload(["numpy", "tango", "tango_server.device"])

Properties = dict[str, Any]


def reason(exc: pytest.ExceptionInfo[tango.DevFailed]) -> str:
    """The reason of a DevFailed: what clients branch on."""
    return str(exc.value.args[0].reason)


def drain(dev: tango.DeviceProxy) -> list[bytes]:
    """Fetch every pending message (events of earlier tests, say)."""
    messages = []
    while dev.PendingPackets:
        messages.append(bytes(dev.Receive(0)))
    return messages


@contextlib.contextmanager
def _forkserver() -> Iterator[None]:
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("forkserver", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(previous, force=True)


@contextlib.contextmanager
def device_server(properties: Properties) -> Iterator[tango.DeviceProxy]:
    """One CCDPC device with these properties, in its own server process."""
    with _forkserver():
        context = DeviceTestContext(CCDPC, properties=properties, process=True, debug=0)
        proxy = context.__enter__()
    try:
        yield proxy
    finally:
        context.__exit__(None, None, None)


@contextlib.contextmanager
def device_servers(devices: dict[str, Properties]) -> Iterator[dict[str, tango.DeviceProxy]]:
    """Several CCDPC devices (name -> properties) in one server process."""
    info = [{"class": CCDPC, "devices": [{"name": n, "properties": p} for n, p in devices.items()]}]
    with _forkserver():
        context = MultiDeviceTestContext(info, process=True, debug=0)
        context.__enter__()
    try:
        yield {name: context.get_device(name) for name in devices}
    finally:
        context.__exit__(None, None, None)
