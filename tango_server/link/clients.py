"""Who calls the device: one key per client process, and whether that process still runs.

Tango tells a device who is calling (`DeviceImpl.get_client_ident()`, a ``ClientAddr``): the
address the call came from (``giop:tcp:10.0.0.5:53556``), the client's language and, for a C++ or
Python client (cppTango, pytango), its process id; for a Java client (JTango) a per-JVM identifier
and the main class, which may carry ``PID=<n>``. The port in that address is the connection's,
and one process may open several: so the key is the host and the process id (Java: the JVM's
identifier), never the port. Every thread and every `DeviceProxy` of one process is one client.

A client on this host (its address is one of ours) whose process has ended is gone at once; any
other only after nothing was fetched for a while (`Inboxes`). No tango import: the device passes
the fields it got.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
from dataclasses import dataclass

__all__ = ["ANYONE", "Caller", "caller_from_ident", "is_local", "process_exists"]

_GIOP = re.compile(r"giop:(?P<transport>[a-z]+):(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:]*))")
_JAVA_PID = re.compile(r"\bPID=(\d+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Caller:
    """A client: `key` is stable for the life of its process; `host` and `pid` (0: unknown) say
    where it runs, to tell whether it still does; `name` is for people (a Java main class)."""

    key: str
    host: str = ""
    pid: int = 0
    name: str = ""


#: Calls without identification (from inside the server, or through the link alone, as the link's
#: tests do) share this one client.
ANYONE = Caller("")


def caller_from_ident(
    address: str, pid: int = 0, java_ident: tuple[int, int] | None = None, main_class: str = ""
) -> Caller:
    """The caller from a Tango ``ClientAddr``'s fields: `address` its ``client_ip``, `pid` its
    ``client_pid`` (C++ and Python clients), `java_ident` and `main_class` for a Java client.

    A client that gives neither (an old client without identification) is keyed by its host
    alone: all such clients of one host share an inbox.
    """
    match = _GIOP.match(address)
    if match is None:
        host = address
    elif match["transport"] == "unix":  # a Unix socket: the client is on this host
        host = "localhost"
    else:
        host = match["v6"] if match["v6"] is not None else match["host"]
    if java_ident is not None and any(java_ident):
        found = _JAVA_PID.search(main_class)
        jvm = f"{java_ident[0]:x}{java_ident[1]:x}"
        return Caller(f"{host} java {jvm}", host, int(found[1]) if found else 0, main_class)
    if pid > 0:
        return Caller(f"{host} pid {pid}", host, pid)
    return Caller(host, host)


@functools.lru_cache(maxsize=256)
def is_local(host: str) -> bool:
    """Whether `host` (an address) is one of this machine's: binding to it succeeds only then."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


def process_exists(pid: int) -> bool | None:
    """Whether process `pid` runs on this host (a zombie, ended but not yet reaped by its
    parent, does not); None where that cannot be told (not POSIX: there `os.kill` would end the
    process)."""
    if os.name != "posix" or pid <= 0:
        return None
    try:
        os.kill(pid, 0)  # signal 0: the existence check, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    except OSError:  # anything else: not known
        return None
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Linux: the process has ended and waits for its parent (state Z in /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()  # the name, in (), may hold spaces
    except OSError:
        return False
    return fields[:1] == ["Z"]
