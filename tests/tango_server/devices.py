"""CCDPC devices served by a child process, reached through a real DeviceProxy
(`tango_server.tools.testing` says why a forkserver starts them)."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
import tango  # type: ignore[import-untyped]

from tango_server import CCDPC
from tango_server.tools import testing

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
def device_server(properties: Properties) -> Iterator[tango.DeviceProxy]:
    """One CCDPC device with these properties, in its own server process."""
    with testing.device_server(CCDPC, properties) as proxy:
        yield proxy


@contextlib.contextmanager
def device_servers(devices: dict[str, Properties]) -> Iterator[dict[str, tango.DeviceProxy]]:
    """Several CCDPC devices (name -> properties) in one server process."""
    with testing.device_servers(CCDPC, devices) as proxies:
        yield proxies
