"""``python -m tests.facility``: the guide's steps in order, timed; everything stopped after.

To add a step (say, TangoAccessControl), write a function ``step(run: Run) -> None`` (in a module
of its own beside guide.py) and put it in `STEPS` where the guide has it: it gets the stack
(`run.stack`: ports, `run`, `spawn` as a user, `apt_install`), and whatever it spawns is stopped
by PID at the end.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import access, guide
from .guide import Run
from .stack import Facility

#: The guide's order. `demo` and `data_folder` run while the server ages past Starter's minute.
STEPS: list[tuple[str, Callable[[Run], None]]] = [
    ("Debian packages, MariaDB, dbconfig-common", guide.packages),
    ("DataBaseds", guide.databaseds),
    ("python -m build", guide.build),
    ("install: venv of /usr/bin/python3", guide.venv),
    ("simulator", guide.simulator),
    ("register: json2tango, tango_admin", guide.register),
    ("run by hand", guide.by_hand),
    ("run under Starter", guide.starter),
    ("check from a plain client", guide.checks),
    ("Tango Access Control", access.access_control),
    ("DataFolder checked at Init", guide.data_folder),
    ("demo from the wheel", guide.demo),
    ("kill -9: Starter restarts it", guide.restart),
]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ccdpc-facility-"))
    work.chmod(0o755)  # the tango and mysql users reach their folders inside
    run = Run(Facility(work))
    began = time.monotonic()
    failed = ""
    try:
        for name, step in STEPS:
            print(f"== {name}", flush=True)
            started = time.monotonic()
            step(run)
            print(f"   ok ({time.monotonic() - started:.1f} s)", flush=True)
    except BaseException as exc:
        failed = f"{name}: {type(exc).__name__}: {exc}"
        traceback.print_exc()
        for child in run.stack.children:
            print(f"--- {child.name} (pid {child.pid}), {child.log}:\n{child.tail()}")
    finally:
        for child in run.stack.children:
            if child.name == "Starter":  # first: it would start its servers again
                child.stop()
        if run.venv != Path():
            guide.stop_servers(run)
        run.stack.stop()
    seconds = time.monotonic() - began
    if failed:
        print(f"\nFACILITY TEST FAILED after {seconds:.0f} s in {failed}\n(logs kept in {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nFACILITY TEST PASSED in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
