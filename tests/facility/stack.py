"""The Debian Tango stack of a facility, on loopback: packages, MariaDB, DataBaseds, Starter.

Everything here is started by this process and recorded by PID in `Facility.children`, so that
`Facility.stop` ends exactly what was started, newest first. Nothing global is started (package
scripts are kept from starting services), the MariaDB data live in the run's own folder, and the
host's tango-db configuration files, which pointing tango-db at that MariaDB rewrites, are put back.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PACKAGES", "Child", "Facility", "free_port", "wait_for"]

#: Debian 12's Tango 9.3 stack (libtango-tools: tango_admin) and what the guide needs beside it.
PACKAGES = ("mariadb-server", "tango-db", "tango-starter", "libtango-tools", "python3-venv")
#: What re-pointing an installed tango-db at this run's MariaDB rewrites: put back after the run.
TANGO_DB_FILES = (
    Path("/etc/dbconfig-common/tango-db.conf"),
    Path("/var/lib/tango/.my.cnf"),
    Path("/etc/tangorc"),
)
#: Keeps package scripts from starting services (MariaDB, tango-db, Starter) during installs.
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
DB_USER = "tango"  # what tango-db's dbconfig-common creates; DataBaseds logs in with it
DB_ADMIN = "ccdpcadmin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, every: float = 0.2
) -> None:
    """Poll `condition()` (exceptions count as false) until true; `TimeoutError(what)` after."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception as exc:  # a daemon not up yet answers with any kind of error
            last = exc
        time.sleep(every)
    raise TimeoutError(
        f"{what}: not within {timeout:g} s" + (f" (last error: {last})" if last else "")
    )


@dataclass
class Child:
    """A process this run started (or saw started for it), stopped by its PID."""

    name: str
    pid: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return not _zombie(self.pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """`sig`, then SIGKILL if it is still there after `timeout` seconds."""
        for current in (sig, signal.SIGKILL):
            if not self.alive():
                return
            try:
                os.kill(self.pid, current)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        if self.process is not None:
            self.process.wait(timeout)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@dataclass
class Facility:
    """One run: its folder (readable by the `tango` user), ports, passwords and children."""

    work: Path
    hostname: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    mysql_port: int = field(default_factory=free_port)
    tango_port: int = field(default_factory=free_port)
    db_password: str = field(default_factory=lambda: secrets.token_hex(12))
    admin_password: str = field(default_factory=lambda: secrets.token_hex(12))
    children: list[Child] = field(default_factory=list)
    removed_policy: bool = False
    saved: dict[Path, tuple[bytes, os.stat_result]] = field(default_factory=dict)

    @property
    def tango_host(self) -> str:
        return f"127.0.0.1:{self.tango_port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every Tango program of this run: this database, loopback only, and
        no PYTHONPATH: the guide's commands run in a clean shell, and a checkout on the path
        (with the egg-info of an editable install) would make pip skip the wheel under test."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return dict(env, TANGO_HOST=self.tango_host, ORBendPoint="giop:tcp:127.0.0.1:")

    # -- processes --------------------------------------------------------------------------

    def run(self, argv: Sequence[str], ok: Sequence[int] = (0,), **kwargs: object) -> str:
        """Run a command to its end; its output; `RuntimeError` on an exit code not in `ok`."""
        env = kwargs.pop("env", self.env)
        done = subprocess.run(
            list(argv),
            env=env,
            capture_output=True,
            text=True,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )
        output = str(done.stdout) + str(done.stderr)
        if done.returncode not in ok:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{output[-3000:]}")
        return output

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start `argv` in the background, as `user` (setpriv: the PID is the program's own)."""
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]
        log = self.work / f"{name.replace('/', '_')}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env if env is not None else self.env),
                cwd=cwd or self.work,
                start_new_session=True,
            )
        child = Child(name, process.pid, log, process)
        self.children.append(child)
        return child

    def adopt(self, name: str, pid: int, log: Path) -> Child:
        """Record a process another one started for this run (a server Starter started)."""
        child = Child(name, pid, log)
        self.children.append(child)
        return child

    def stop(self) -> None:
        """Stop every child by PID: Starter first (it would restart its servers), then the
        others newest first; undo the install-time policy."""
        starters = [child for child in self.children if child.name == "Starter"]
        for child in starters + [c for c in reversed(self.children) if c not in starters]:
            child.stop()
        self._allow_services()
        self._restore()

    def _preserve(self, paths: Sequence[Path]) -> None:
        for path in paths:
            if path.exists() and path not in self.saved:
                self.saved[path] = (path.read_bytes(), path.stat())

    def _restore(self) -> None:
        """The host's own tango-db configuration back, as it was before this run."""
        for path, (content, stat) in self.saved.items():
            path.write_bytes(content)
            os.chown(path, stat.st_uid, stat.st_gid)
            path.chmod(stat.st_mode & 0o7777)
        self.saved.clear()

    # -- packages ---------------------------------------------------------------------------

    def _forbid_services(self) -> None:
        if not POLICY_RC_D.exists():
            POLICY_RC_D.write_text("#!/bin/sh\n# ccdpc facility test: no services now\nexit 101\n")
            POLICY_RC_D.chmod(0o755)
            self.removed_policy = True

    def _allow_services(self) -> None:
        if self.removed_policy:
            POLICY_RC_D.unlink(missing_ok=True)
            self.removed_policy = False

    def apt_install(self, packages: Sequence[str]) -> None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        self._forbid_services()
        try:
            output = self.run(
                ["apt-get", "install", "-y", "--no-install-recommends",
                 "-o", "DPkg::Lock::Timeout=120", *packages],
                env=env,
            )  # fmt: skip
            with open(self.work / "apt.log", "a") as log:
                log.write(output)
        finally:
            self._allow_services()

    def installed(self, package: str) -> bool:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode == 0 and done.stdout.endswith(" installed")

    # -- MariaDB ----------------------------------------------------------------------------

    def start_mariadb(self) -> Child:
        """A MariaDB server of this run's own: own data folder and socket, 127.0.0.1 only."""
        data, run = self.work / "mysql-data", self.work / "mysql-run"
        for folder in (data, run):
            folder.mkdir()
            shutil.chown(folder, "mysql", "mysql")
        self.run(
            ["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={data}",
             "--auth-root-authentication-method=socket", "--skip-test-db"]
        )  # fmt: skip
        child = self.spawn(
            "mariadbd",
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}",
             f"--socket={run}/mysqld.sock", f"--pid-file={run}/mysqld.pid",
             "--bind-address=127.0.0.1", f"--port={self.mysql_port}", "--skip-name-resolve",
             f"--log-error={self.work}/mariadbd-error.log"],
            user="mysql",
        )  # fmt: skip
        self.socket = run / "mysqld.sock"
        wait_for(lambda: self.sql("SELECT 1"), 60, "MariaDB answering")
        # The administrator dbconfig-common logs in as (over TCP: root has socket auth only).
        self.sql(
            f"CREATE USER '{DB_ADMIN}'@'127.0.0.1' IDENTIFIED BY '{self.admin_password}';"
            f"GRANT ALL ON *.* TO '{DB_ADMIN}'@'127.0.0.1' WITH GRANT OPTION;"
        )
        return child

    def sql(self, statements: str) -> str:
        return self.run(
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", "root", "-N", "-e",
             statements]
        )  # fmt: skip

    # -- tango-db: dbconfig-common creates the database in this MariaDB --------------------

    def preseed(self) -> None:
        """The answers tango-db's dbconfig-common asks for: this MariaDB, over TCP."""
        p = "tango-db tango-db"
        answers = [
            f"tango-common tango-common/tango-host string {self.tango_host}",
            f"{p}/dbconfig-install boolean true",
            f"{p}/dbconfig-reinstall boolean true",
            f"{p}/database-type select mysql",
            f"{p}/mysql/method select TCP/IP",
            f"{p}/remote/host select 127.0.0.1",
            f"{p}/remote/newhost string 127.0.0.1",
            f"{p}/remote/port string {self.mysql_port}",
            f"{p}/db/app-user string {DB_USER}@127.0.0.1",
            f"{p}/mysql/app-pass password {self.db_password}",
            f"{p}/app-password-confirm password {self.db_password}",
            f"{p}/mysql/admin-user string {DB_ADMIN}",
            f"{p}/mysql/admin-pass password {self.admin_password}",
        ]
        self.run(["debconf-set-selections"], input="\n".join(answers) + "\n")

    def create_tango_database(self) -> None:
        """Install tango-db, or on a machine that has it, reconfigure it for this MariaDB."""
        self._preserve(TANGO_DB_FILES)
        self.preseed()
        # dbconfig-common's own file, if an earlier install left it, is the registry it reads
        # back over the answers: point it at this server too.
        conf = Path("/etc/dbconfig-common/tango-db.conf")
        if conf.exists():
            text = conf.read_text()
            for key, value in (
                ("dbc_dbserver", "127.0.0.1"),
                ("dbc_dbport", str(self.mysql_port)),
                ("dbc_dbpass", self.db_password),
                ("dbc_dbadmin", DB_ADMIN),
                ("dbc_dballow", "127.0.0.1"),
            ):
                text = re.sub(rf"^{key}=.*$", f"{key}='{value}'", text, flags=re.M)
            conf.write_text(text)
        if not self.installed("tango-db"):
            self.apt_install(["tango-db", "tango-starter", "libtango-tools"])
            return
        self._forbid_services()
        try:
            output = self.run(
                ["dpkg-reconfigure", "-fnoninteractive", "tango-db"],
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
            )
            (self.work / "dpkg-reconfigure.log").write_text(output)
        finally:
            self._allow_services()
        self.apt_install(["tango-starter", "libtango-tools"])

    # -- DataBaseds and Starter, as the `tango` user as Debian runs them --------------------

    def database_env(self) -> dict[str, str]:
        """The environment of Tango's MariaDB clients (DataBaseds, TangoAccessControl) run as
        the `tango` user: this run's `env` and this MariaDB's account."""
        return dict(
            self.env,
            MYSQL_HOST=f"127.0.0.1:{self.mysql_port}",
            MYSQL_USER=DB_USER,
            MYSQL_PASSWORD=self.db_password,
            HOME="/var/lib/tango",
        )

    def start_databaseds(self) -> Child:
        child = self.spawn(
            "DataBaseds",
            ["/usr/lib/tango/DataBaseds", "2", "-ORBendPoint", f"giop:tcp:{self.tango_host}"],
            user="tango",
            env=self.database_env(),
        )
        wait_for(
            lambda: self.run(["tango_admin", "--ping-database", "1"]) is not None,
            60,
            f"DataBaseds on {self.tango_host} ({child.log}: {child.tail()})",
        )
        return child

    def start_starter(self) -> Child:
        """Starter tango/admin/<host>, as Debian's init script runs it, with this run's env."""
        return self.spawn(
            "Starter",
            ["/usr/lib/tango/Starter", self.hostname],
            user="tango",
            env=dict(self.env, HOME="/var/lib/tango"),
        )
