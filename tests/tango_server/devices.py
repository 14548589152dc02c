"""CCDPC devices served by a child process, reached through a real DeviceProxy
(`tango_server.tools.testing` says why a forkserver starts them)."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import tango  # type: ignore[import-untyped]
from tango import DevState

from ccdpc.sim import Simulator, synthetic_frame
from tango_server import CCDPC
from tango_server.tools import testing

from .conftest import wait_until

# Imported once by the forkserver, so that every device server starts in a fraction of a second.
multiprocessing.set_forkserver_preload(["numpy", "tango", "tango_server.device"])

Properties = dict[str, Any]
Image = npt.NDArray[np.uint16]
#: A binned frame (binning 2): columns, rows.
W, H = 621, 576


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


@contextlib.contextmanager
def saving_pc(
    protocol: int, folder: Path, on_within: float = 5.0, **sim_options: Any
) -> Iterator[tuple[Simulator, tango.DeviceProxy]]:
    """A simulator and a device with `folder` as its DataFolder, once the device is ON (within
    `on_within` s). trickle_delay 0: a trickled binned frame takes seconds, not minutes."""
    with (
        Simulator(protocol=protocol, trickle_delay=0, **sim_options) as sim,
        device_server({"Host": sim.hostname, "DataFolder": str(folder)}) as dev,
    ):
        wait_until(lambda: dev.State() == DevState.ON, on_within, "ON after start")
        yield sim, dev


def binned_pixels(sim: Simulator, number: int) -> Image:
    """Frame `number` the simulator made (counting from 1), binned."""
    raw = synthetic_frame(W, H, sim.detector.seed, number)
    return np.frombuffer(raw, "<u2").reshape(H, W)
