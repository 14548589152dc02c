"""The steps of docs/deploy.md, one function each, run against the real Debian Tango stack.

Each step takes the `Run` and leaves what later steps need in it. The client side (checks, events)
is a plain pytango client in this process; the server side runs from a venv made with Debian's
own ``/usr/bin/python3``, as the `tango` user, exactly as the guide installs it.
"""

from __future__ import annotations

import json
import os
import pwd
import queue
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import tango  # type: ignore[import-untyped]

from .stack import PACKAGES, Child, Facility, wait_for

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "ccdpc-dsconfig.json"
SERVER, DEVICE = "CCDPC/kappa", "bl/kappaccd/pc"
#: Starter's AutoRestartDuration, in minutes: it restarts a server that dies after running longer.
AUTO_RESTART_MINUTES = 1
#: Beyond the minute, for Starter's view of the start (it polls) and its clock's whole seconds.
STARTER_MARGIN = 6.0


@dataclass
class Run:
    """What the steps share: the stack, the venv, the built wheel, the server and its device."""

    stack: Facility
    venv: Path = Path()
    wheel: Path = Path()
    sim_port: int = 0
    data: Path = Path()
    server: Child | None = None
    device: Any = None
    notes: list[str] = field(default_factory=list)

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def say(self, text: str) -> None:
        print(f"    {text}", flush=True)


# -- 0. the Debian packages, MariaDB and the Tango database ------------------------------------


def packages(run: Run) -> None:
    """apt: MariaDB first; then tango-db, whose dbconfig-common creates the database in it."""
    stack = run.stack
    stack.run(["apt-get", "update", "-o", "DPkg::Lock::Timeout=120"],
              env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))  # fmt: skip
    stack.apt_install(["mariadb-server", "python3-venv"])
    stack.start_mariadb()
    stack.create_tango_database()
    missing = [p for p in PACKAGES if not stack.installed(p)]
    assert not missing, f"not installed: {missing}"
    tables = stack.sql("SHOW TABLES FROM tango")
    assert "device" in tables.split() and "server" in tables.split(), tables
    run.say(f"MariaDB on 127.0.0.1:{stack.mysql_port}, database 'tango' made by dbconfig-common")


def databaseds(run: Run) -> None:
    run.stack.start_databaseds()
    os.environ["TANGO_HOST"] = run.stack.tango_host  # for this process's plain client
    run.say(f"DataBaseds as user tango, TANGO_HOST={run.stack.tango_host}")


# -- 1. install: a wheel built from the checkout, in a venv of Debian's python3 ----------------


def build(run: Run) -> None:
    """``python -m build``: a wheel and an sdist, without a single warning."""
    source = run.stack.work / "source"
    shutil.copytree(
        REPO, source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                      ".*_cache", ".hypothesis"),
    )  # fmt: skip
    dist = run.stack.work / "dist"
    # Without PYTHONDONTWRITEBYTECODE, which only makes setuptools warn that it cannot compile.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    command = [sys.executable, "-m", "build", "--outdir", str(dist), str(source)]
    output = run.stack.run(command, env=env)
    warnings = [line for line in output.splitlines() if "warning" in line.lower()]
    assert not warnings, "python -m build warned:\n" + "\n".join(warnings)
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(dist.iterdir())
    run.wheel = wheels[0]
    run.say(f"built {run.wheel.name} and {sdists[0].name}")


def venv(run: Run) -> None:
    """The guide's install: Debian's python3, so that the `tango` user can run it."""
    run.venv = run.stack.work / "ccdpc"
    run.stack.run(["/usr/bin/python3", "-m", "venv", str(run.venv)])
    run.stack.run([run.bin("pip"), "install", "-q", f"{run.wheel}[tango]", "dsconfig"])
    listed = run.stack.run([run.bin("pip"), "list", "--format=json"])
    names = {p["name"].lower() for p in json.loads(listed)}
    assert {"pytango", "numpy", "dsconfig", "ccdpc-tango"} <= names, names
    assert "pytango-db" not in names, "the facility install pulled in the embedded database"
    run.say(f"venv {run.venv}: ccdpc-tango[tango] + dsconfig, no pytango-db")


def simulator(run: Run) -> None:
    sim = run.stack.spawn("ccdpc-sim", [run.bin("ccdpc-sim"), "--protocol", "3", "--port", "0"])
    found: list[int] = []

    def listening() -> bool:
        for line in sim.log.read_text().splitlines():
            if "listening on 127.0.0.1:" in line:
                found.append(int(line.split("127.0.0.1:")[1].split()[0]))
                return True
        return False

    wait_for(listening, 30, "ccdpc-sim listening")
    run.sim_port = found[0]


# -- 2. register: json2tango of the repository's file, edited; tango_admin ---------------------


def register(run: Run) -> None:
    """json2tango's exit codes: 3 a dry run with changes, 2 written, 0 nothing to do; and -u."""
    run.data = run.stack.work / "kappaccd-data"
    run.data.mkdir()
    shutil.chown(run.data, "tango", "tango")  # the server's user writes there
    config = json.loads(CONFIG.read_text())
    properties = config["servers"]["CCDPC"]["kappa"]["CCDPC"][DEVICE]["properties"]
    properties.update(Host=["127.0.0.1"], Port=[str(run.sim_port)], DataFolder=[str(run.data)])
    edited = run.stack.work / "ccdpc-dsconfig.json"
    edited.write_text(json.dumps(config, indent=2))
    json2tango = run.bin("json2tango")
    run.stack.run([json2tango, str(edited)], ok=(3,))
    run.stack.run([json2tango, "--write", "--update", str(edited)], ok=(2,))
    run.stack.run([json2tango, "--update", str(edited)], ok=(0,))
    # A property added by hand: -u leaves it; without -u the file replaces the configuration.
    run.stack.run(["tango_admin", "--add-property", DEVICE, "Comment", "added by hand"])
    run.stack.run([json2tango, "--update", str(edited)], ok=(0,))
    dry = run.stack.run([json2tango, str(edited)], ok=(3,))
    assert "Comment" in dry, dry
    run.stack.run(["tango_admin", "--delete-property", DEVICE, "Comment"])
    run.stack.run(["tango_admin", "--check-server", SERVER])
    run.say("json2tango: dry run 3, --write 2, again 0; -u keeps a property added by hand")


# -- 3. run it by hand, then under Starter ---------------------------------------------------


def _proxy() -> Any:
    device = tango.DeviceProxy(DEVICE)
    device.set_timeout_millis(3000)
    return device


def _server_pids(run: Run) -> list[int]:
    """The running ``CCDPC kappa`` processes of this run's venv (python3 .../bin/CCDPC kappa)."""
    under = str(run.venv / "bin") + "/"
    pids = []
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if (
            len(argv) >= 3
            and argv[1].endswith("/CCDPC")
            and argv[2] == "kappa"
            and argv[1].startswith(under)
        ):
            pids.append(process.pid)
    return pids


def stop_servers(run: Run) -> None:
    """Stop, by PID, any server still running from this run's venv (Starter may have started
    one that no step recorded before a failure)."""
    for pid in _server_pids(run):
        run.stack.adopt(SERVER, pid, Path("/dev/null")).stop()


def by_hand(run: Run) -> None:
    """``CCDPC kappa`` as the tango user, pinned to loopback; the guide's check command."""
    server = run.stack.spawn(
        "CCDPC-by-hand",
        [run.bin("CCDPC"), "kappa", "-ORBendPoint", "giop:tcp:127.0.0.1:"],
        user="tango",
        env=dict(run.stack.env, HOME="/var/lib/tango"),
    )
    device = _proxy()
    wait_for(lambda: device.State() == tango.DevState.ON, 60, f"by hand: ON ({server.tail()})")
    check = "import tango; d = tango.DeviceProxy('bl/kappaccd/pc'); print(d.State(), d.Status())"
    assert run.stack.run([run.bin("python"), "-c", check]).startswith("ON Connected")
    _loopback_only(server.pid)
    server.stop(signal.SIGINT)  # a Tango server stops cleanly on it
    assert not server.alive()
    run.say("CCDPC kappa by hand: ON, listening on 127.0.0.1 only, stopped")


def _loopback_only(pid: int) -> None:
    process = psutil.Process(pid)
    connections = process.net_connections(kind="tcp")
    listening = [c.laddr for c in connections if c.status == psutil.CONN_LISTEN]
    assert listening, "the server listens nowhere?"
    assert all(address.ip == "127.0.0.1" for address in listening), listening


def starter(run: Run) -> None:
    """Register Starter, StartDsPath, AutoRestartDuration; the server's startup level; start."""
    stack, host = run.stack, run.stack.hostname
    admin = f"tango/admin/{host}"
    logs = stack.work / "starter-logs"
    logs.mkdir()
    shutil.chown(logs, "tango", "tango")
    stack.run(["tango_admin", "--add-server", f"Starter/{host}", "Starter", admin])
    stack.run(["tango_admin", "--add-property", admin, "StartDsPath", str(run.venv / "bin")])
    stack.run(["tango_admin", "--add-property", admin, "AutoRestartDuration",
               str(AUTO_RESTART_MINUTES)])  # fmt: skip
    stack.run(["tango_admin", "--add-property", admin, "LogFileHome", str(logs)])
    # The device's own log (info_stream, error_stream) to a file, at level INFO.
    stack.run(["tango_admin", "--add-property", DEVICE, "logging_level", "INFO"])
    stack.run(["tango_admin", "--add-property", DEVICE, "logging_target",
               f"file::{logs}/bl_kappaccd_pc.log"])  # fmt: skip
    # Startup level 2, controlled: Starter starts it with the host and watches it.
    level = (
        "import tango; i = tango.DbServerInfo(); i.name, i.host, i.mode, i.level = "
        f"'{SERVER}', '{host}', 1, 2; tango.Database().put_server_info(i)"
    )
    stack.run([run.bin("python"), "-c", level])
    info = tango.Database().get_server_info(SERVER)
    assert (info.host, info.mode, info.level) == (host, 1, 2), info
    stack.start_starter()
    starter_device = tango.DeviceProxy(admin)
    wait_for(lambda: starter_device.ping() >= 0, 60, "Starter answering")
    device = _proxy()
    wait_for(lambda: device.State() == tango.DevState.ON, 60, "started by Starter: ON")
    # Starter's view lags (it polls): DevStop once it lists the server as running, DevStart
    # once it lists it as stopped; earlier, it answers NOT running / already running.
    wait_for(lambda: SERVER in (starter_device.RunningServers or ()), 30, "Starter sees it run")
    starter_device.DevStop(SERVER)
    wait_for(lambda: SERVER in (starter_device.StoppedServers or ()), 30, "Starter sees it stop")
    wait_for(lambda: not _server_pids(run), 30, "the stopped server gone")
    starter_device.DevStart(SERVER)
    wait_for(lambda: device.State() == tango.DevState.ON, 60, "DevStart: ON")
    pids = _server_pids(run)
    assert len(pids) == 1, pids
    assert psutil.Process(pids[0]).username() == "tango"
    _loopback_only(pids[0])  # the ORBendPoint variable, inherited from Starter
    log = logs / "ds.log" / "CCDPC_kappa.log"
    run.server = stack.adopt(SERVER, pids[0], log)
    run.device = device
    run.say(f"Starter {admin} (user tango) runs {SERVER}, pid {pids[0]}, log {log}")


# -- 4. check it: a plain client --------------------------------------------------------------


def checks(run: Run) -> None:
    """State/Status, Command, Acquire, a FrameNumber CHANGE_EVENT, Frame, SaveFrame."""
    device = run.device
    assert device.State() == tango.DevState.ON and device.Status().startswith("Connected"), (
        device.Status()
    )
    assert device.Command("STATUS").startswith("IDLE")
    events: queue.Queue[int] = queue.Queue()

    def pushed(event: Any) -> None:
        if not event.err and event.attr_value is not None:
            events.put(int(event.attr_value.value))

    event_id = device.subscribe_event("FrameNumber", tango.EventType.CHANGE_EVENT, pushed)
    try:
        first = events.get(timeout=10)  # the subscription's first event: the current value
        device.Acquire(0.2)
        deadline = time.monotonic() + 30
        while (number := events.get(timeout=max(0.1, deadline - time.monotonic()))) <= first:
            pass
    finally:
        device.unsubscribe_event(event_id)
    frame = device.Frame
    assert frame.shape == (device.FrameHeight, device.FrameWidth) and frame.any(), frame.shape
    saved = Path(device.SaveFrame(f"facility_{number:04d}.kcd"))
    assert saved.parent == run.data and saved.stat().st_uid == pwd.getpwnam("tango").pw_uid
    log = run.stack.work / "starter-logs" / "bl_kappaccd_pc.log"
    wait_for(lambda: f"Frame saved to {saved}" in log.read_text(), 10, f"the device's log {log}")
    run.say(f"ON, Command, Acquire, CHANGE_EVENT FrameNumber {number}, Frame {frame.shape}, "
            f"SaveFrame {saved.name} (owner tango)")  # fmt: skip


def data_folder(run: Run) -> None:
    """A bad DataFolder: FAULT naming it, the server alive; Init after the fix: ON."""
    device = run.device
    root_only = run.stack.work / "root-only"
    root_only.mkdir(mode=0o755)
    a_file = run.stack.work / "a-file"
    a_file.write_text("not a folder\n")
    for bad in (run.stack.work / "nowhere", a_file, root_only):
        device.put_property({"DataFolder": [str(bad)]})
        device.Init()
        assert device.State() == tango.DevState.FAULT, (bad, device.Status())
        assert "DataFolder" in device.Status(), device.Status()
        assert run.server is not None and run.server.alive()
    device.put_property({"DataFolder": [str(run.data)]})
    device.Init()
    wait_for(lambda: device.State() == tango.DevState.ON, 30, "ON after the fix and Init")
    run.say("DataFolder missing / a file / not writable by tango: FAULT naming it; fixed: ON")


def demo(run: Run) -> None:
    """The wheel also runs the demo, with the embedded database of the `demo` extra."""
    run.stack.run([run.bin("pip"), "install", "-q", f"{run.wheel}[demo]"])
    env = {k: v for k, v in os.environ.items() if k not in ("TANGO_HOST", "ORBendPoint")}
    output = run.stack.run([run.bin("ccdpc-demo"), "--once"], env=env, timeout=180)
    assert "saved" in output and "frame 1:" in output, output
    run.say("ccdpc-demo --once from the wheel: a frame acquired and saved")


# -- 5. Starter restarts it: AutoRestartDuration, and its first minute -------------------------


def restart(run: Run) -> None:
    """kill -9 once the server has run past AutoRestartDuration; Starter starts a new one."""
    assert run.server is not None
    old = run.server.pid
    started = psutil.Process(old).create_time()
    past = started + AUTO_RESTART_MINUTES * 60 + STARTER_MARGIN
    wait_for(lambda: time.time() > past, past - time.time() + 5, "past Starter's minute", 0.5)
    run.server.stop(9)
    assert not run.server.alive()
    t0 = time.monotonic()
    wait_for(lambda: [p for p in _server_pids(run) if p != old], 60, "Starter restarting it")
    new = _server_pids(run)[0]
    run.server = run.stack.adopt(SERVER, new, run.server.log)
    device = _proxy()
    wait_for(lambda: device.State() == tango.DevState.ON, 60, "restarted server ON")
    assert device.Command("STATUS").startswith("IDLE")
    # Starter's own reasoning, on its console: the run time it compared with the minute.
    starter_log = next(c for c in run.stack.children if c.name == "Starter").log.read_text()
    ran = [int(line.split()[2]) for line in starter_log.splitlines() if line.startswith("Has run")]
    assert ran and ran[-1] > AUTO_RESTART_MINUTES * 60 and "Restart it" in starter_log, ran
    took = time.monotonic() - t0
    run.say(f"kill -9 {old} after Starter counted {ran[-1]} s: restarted as {new} in {took:.1f} s")
    # Stop it as an operator would, through Starter, so that Starter does not start it again.
    admin = tango.DeviceProxy(f"tango/admin/{run.stack.hostname}")
    wait_for(lambda: SERVER in (admin.RunningServers or ()), 30, "Starter sees it run")
    admin.DevStop(SERVER)
    wait_for(lambda: not run.server.alive(), 30, "DevStop")  # type: ignore[union-attr]
