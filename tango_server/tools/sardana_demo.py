"""``ccdpc-demo --sardana``: the demo's device in a Sardana Pool and MacroServer.

After the device session, a Pool (with the CCDPC controller on its ``PoolPath``) and a
MacroServer start on the demo's database; the controller, its channel, a dummy motor and a
measurement group are defined; ``ct 0.5`` and a 3-point ``ascan`` run through the Door, and the
scan file and how to connect spock are printed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TextIO

from .sardana_stack import CONTROLLER, MacroRun, SardanaStack, sardana_stack

__all__ = ["how_to_connect_spock", "sardana_session", "start_sardana"]


def start_sardana(
    tango_host: str, device: str, folder: Path, out: TextIO
) -> AbstractContextManager[SardanaStack]:
    """The stack for the demo's device (the caller enters it), saying what it starts."""
    print("\nStarting a Sardana Pool and MacroServer (some seconds) ...", file=out)
    return sardana_stack(tango_host, device, folder)


def _show(run: MacroRun, out: TextIO) -> None:
    print(f"  {' '.join(run.macro)}   ({run.seconds:.1f} s)", file=out)
    for line in run.output.splitlines():
        if line.strip():
            print(f"    {line}", file=out)


def sardana_session(stack: SardanaStack, integration: float, out: TextIO) -> None:
    """``ct`` and a 3-point ``ascan`` of the demo's channel; prints what they printed."""
    pool, door = stack.pool.name(), stack.door.name
    print(f"  Pool          {pool} (controller {CONTROLLER}, channel {stack.channel})", file=out)
    print(f"  MacroServer   {stack.macro_server.name()}, Door {door}", file=out)
    group = stack.measurement_group
    print(f"  motor         {stack.motor} (dummy), measurement group {group}", file=out)
    _show(stack.door.run("ct", f"{integration:g}", timeout=60), out)
    ascan = ("ascan", stack.motor, "0", "1", "2", f"{integration:g}")
    _show(stack.door.run(*ascan, timeout=120), out)
    print(f"  scan file     {stack.scan_file}", file=out)


def how_to_connect_spock(tango_host: str, stack: SardanaStack, out: TextIO) -> None:
    door = stack.door.proxy.name()
    print(f"  spock    TANGO_HOST={tango_host} spock --profile=ccdpc-demo", file=out)
    print(f"           (choose the Door {door}), then: ct 1; ascan mot01 0 10 5 0.5", file=out)
