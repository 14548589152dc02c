"""Device servers in child processes, for tests and benchmarks (``DeviceTestContext``).

Every server runs in a process of its own (two servers in one process crash). The child is not
forked from the caller but started by a forkserver: a forked child would inherit the caller's
sockets, a simulator's listener among them, and keep it open; a stopped simulator would then still
accept connections and could not be started again on its port.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import tango  # type: ignore[import-untyped]
from tango.test_context import (  # type: ignore[import-untyped]
    DeviceTestContext,
    MultiDeviceTestContext,
)

if TYPE_CHECKING:
    import psutil  # type: ignore[import-untyped]

__all__ = ["device_server", "device_servers", "forkserver", "server_process"]

Properties = dict[str, Any]

#: cppTango refuses a client's new connection to a server within this many seconds of a failed one.
_THROTTLE = 1.0
#: How long a started server is given to answer its first ping.
_CONNECT_SECONDS = 15.0


@contextlib.contextmanager
def forkserver() -> Iterator[None]:
    """Child processes started meanwhile come from the forkserver."""
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("forkserver", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(previous, force=True)


def _started(make: Callable[[], Any]) -> Any:
    """A started context.

    On a loaded machine the context's first ping can reach the server before it answers; the
    context's second ping then meets cppTango's throttle ("The connection request was delayed")
    and the start fails although the server is fine. Then ping again, past the throttle.
    """
    with forkserver():  # the context makes its queues when built: both under the forkserver
        context = make()
        try:
            context.__enter__()
        except tango.DevFailed as exc:
            if exc.args[0].reason != "API_CantConnectToDevice":
                context.__exit__(None, None, None)
                raise
        else:
            return context
    try:
        _ping_again(context)
    except BaseException:
        context.__exit__(None, None, None)
        raise
    return context


def _ping_again(context: Any) -> None:
    """Ping a started context's server (and device) until they answer, within
    `_CONNECT_SECONDS`; each try waits out cppTango's throttle, which a failed one started."""
    deadline = time.monotonic() + _CONNECT_SECONDS
    while True:
        time.sleep(_THROTTLE * 1.05)  # cppTango's rate limit, not a wait for an event
        try:
            if getattr(context, "server", None) is None:
                context.server = tango.DeviceProxy(context.get_server_access())
            context.server.ping()
            if isinstance(context, DeviceTestContext):
                context.device = context.get_device(context.device_name)
                context.device.ping()
            return
        except tango.DevFailed as exc:
            if exc.args[0].reason != "API_CantConnectToDevice" or time.monotonic() > deadline:
                raise


@contextlib.contextmanager
def device_server(device_class: type, properties: Properties) -> Iterator[tango.DeviceProxy]:
    """One device of `device_class` with these properties, in its own server process."""
    context = _started(
        lambda: DeviceTestContext(device_class, properties=properties, process=True, debug=0)
    )
    try:
        yield context.device
    finally:
        context.__exit__(None, None, None)


@contextlib.contextmanager
def device_servers(
    device_class: type, devices: dict[str, Properties]
) -> Iterator[dict[str, tango.DeviceProxy]]:
    """Several devices (name -> properties) in one server process."""
    entries = [{"name": name, "properties": props} for name, props in devices.items()]
    context = _started(
        lambda: MultiDeviceTestContext(
            [{"class": device_class, "devices": entries}], process=True, debug=0
        )
    )
    try:
        yield {name: context.get_device(name) for name in devices}
    finally:
        context.__exit__(None, None, None)


def server_process(dev: tango.DeviceProxy) -> psutil.Process:
    """The process of `dev`'s device server: the child of this process that listens on its admin
    device's port (psutil, of the test extra, imported only here)."""
    import psutil  # noqa: PLC0415 - only the callers that need it, of the test extra

    port = int(dev.adm_name().split(":")[2].split("/")[0])
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(c.laddr.port == port for c in child.net_connections("tcp")):
                return child
    raise RuntimeError(f"no child process listens on port {port}")
