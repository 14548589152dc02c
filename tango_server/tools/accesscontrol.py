# Tango names commands and attributes in CamelCase.
# ruff: noqa: N802
"""A stand-in for Tango Access Control (the `TangoAccessControl` server of tango-accesscontrol),
for tests and demos on the embedded database, where the real one (which reads its rules from
MariaDB tables) does not run; and `temporary_rules`, which works with both.

What a cppTango client (pytango too) asks the service:

- with the free property ``CtrlSystem/Services`` holding ``AccessControl/tango:<device>``, it pings
  that device (unless ``SUPER_TANGO=true``), then, for each device it opens,
  ``GetAccessForMultiIP([user, device, address, ...])``: its effective OS user (lower case), the
  device, and its host's IPv4 addresses except 127.x; ``"write"`` or anything else (read);
- for a device it may only read, before each command, ``GetAllowedCommands(device class)``
  (once per class and process): State, Status and the class property ``AllowedAccessCmd``. A
  command not in the list is refused in the client with ``API_ReadOnlyMode``, and so is every
  attribute write.

The stand-in answers as the real service does (checked against Debian 12's), from two tables kept
in memory
and seeded from the properties `AccessAddress` (lines ``<user> <address>``) and `AccessDevice`
(lines ``<user> <device> <read|write>``), whose defaults are the real tables' first rows. Its
commands to change them (`AddDeviceForUser`, ...) are the real ones too. Attribute `Requests`
lists what was asked. Run: ``python -m tango_server.tools.accesscontrol <instance>``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import tango  # type: ignore[import-untyped]
from tango.server import Device, attribute, command, device_property, run  # type: ignore[import-untyped]

__all__ = ["TangoAccessControl", "access_of", "main", "temporary_rules"]

#: Requests kept for `Requests`.
KEPT = 200
#: Commands a read-only client is always allowed, whatever the class.
ALWAYS_ALLOWED = ("State", "Status")


def access_of(
    user: str,
    device: str,
    addresses: Sequence[str],
    address_rows: Iterable[tuple[str, str]],
    device_rows: Iterable[tuple[str, str, str]],
) -> str:
    """TangoAccessControl's answer to ``GetAccessForMultiIP([user, device, *addresses])``, as
    version 9.3.4 (Debian 12) gives it.

    First the addresses: a user with address rows of its own may write from those only, any
    other from those of ``*`` (``a.b.c.d``, ``a.b.c.*``, ... ``*.*.*.*``); from elsewhere, read.
    Then the devices: the user's own rows that match the device (``*`` in a member matches any
    text there) decide, ``read`` winning over ``write``; if none matches, the rows of ``*`` do
    the same; if none of those either, read. (The service's later source gives only read from
    the rows of ``*``.)
    """
    own = [address for who, address in address_rows if who == user]
    allowed = own or [address for who, address in address_rows if who == "*"]
    if not any(_address_matches(rule, address) for rule in allowed for address in addresses):
        return "read"
    rows = list(device_rows)
    rights = _rights(rows, user, device) or _rights(rows, "*", device)
    if not rights:
        return "read"
    return "read" if "read" in rights else rights[0]


def _rights(rows: list[tuple[str, str, str]], user: str, device: str) -> list[str]:
    return [r for who, pattern, r in rows if who == user and _device_matches(pattern, device)]


def _address_matches(rule: str, address: str) -> bool:
    parts = address.split(".")
    if len(parts) != 4:
        return False
    return rule in {
        "*.*.*.*",
        f"{parts[0]}.*.*.*",
        f"{parts[0]}.{parts[1]}.*.*",
        f"{parts[0]}.{parts[1]}.{parts[2]}.*",
        address,
    }


def _device_matches(pattern: str, device: str) -> bool:
    rule, name = pattern.lower().split("/"), device.lower().split("/")
    return len(rule) == len(name) == 3 and all(map(_member_matches, rule, name))


def _member_matches(expression: str, member: str) -> bool:
    """The real service's rule, quirks included: one ``*`` at most, a prefix and a suffix."""
    if expression in ("*", member):
        return True
    star = expression.find("*")
    if star < 0:
        return False
    if star == 0:
        return expression[1:] in member
    prefix, suffix = expression[:star], expression[star + 1 :]
    return member.startswith(prefix) and (not suffix or member.find(suffix) == star + 1)


class TangoAccessControl(Device):  # type: ignore[misc]
    """Who may write to which device, from where; and which commands a read-only client may
    still call."""

    AccessAddress = device_property(
        dtype=(str,), default_value=["* *.*.*.*"], doc="'<user> <address>' rows at start"
    )
    AccessDevice = device_property(
        dtype=(str,),
        default_value=["* */*/* write"],
        doc="'<user> <device> <rights>' rows at start",
    )

    def init_device(self) -> None:
        super().init_device()
        self._requests: list[str] = []
        self._addresses = [_row(line, 2) for line in self.AccessAddress]
        self._devices = [_row(line, 3) for line in self.AccessDevice]
        self._db = tango.Database()

    @command(dtype_in=(str,), dtype_out=str)  # type: ignore[untyped-decorator]
    def GetAccessForMultiIP(self, argin: Any) -> str:
        """[user, device, address, ...] -> "write" or "read"."""
        user, device, *addresses = [str(word) for word in argin]
        return self._answer(user, device, addresses)

    @command(dtype_in=(str,), dtype_out=str)  # type: ignore[untyped-decorator]
    def GetAccess(self, argin: Any) -> str:
        """[user, address, device] -> "write" or "read" (clients without the MultiIP call)."""
        user, address, device = [str(word) for word in argin]
        return self._answer(user, device, [address])

    @command(dtype_in=str, dtype_out=(str,))  # type: ignore[untyped-decorator]
    def GetAllowedCommands(self, name: str) -> list[str]:
        """State, Status and the class property AllowedAccessCmd of a class (or a device's)."""
        device_class = self._db.get_class_for_device(name) if "/" in name else name
        found = self._db.get_class_property(device_class, ["AllowedAccessCmd"])
        allowed = [*ALWAYS_ALLOWED, *found["AllowedAccessCmd"]]
        self._remember(f"allowed {device_class} -> {','.join(allowed)}")
        return allowed

    @command(dtype_in=(str,))  # type: ignore[untyped-decorator]
    def AddAddressForUser(self, argin: Any) -> None:
        """[user, address]: the user's rights apply from there."""
        self._add(self._addresses, _args(argin, 2))

    @command(dtype_in=(str,))  # type: ignore[untyped-decorator]
    def RemoveAddressForUser(self, argin: Any) -> None:
        """[user, address]."""
        self._remove(self._addresses, _args(argin, 2))

    @command(dtype_in=(str,))  # type: ignore[untyped-decorator]
    def AddDeviceForUser(self, argin: Any) -> None:
        """[user, device pattern, "read" or "write"]."""
        self._add(self._devices, _args(argin, 3))

    @command(dtype_in=(str,))  # type: ignore[untyped-decorator]
    def RemoveDeviceForUser(self, argin: Any) -> None:
        """[user, device pattern, rights]."""
        self._remove(self._devices, _args(argin, 3))

    @command(dtype_in=str, dtype_out=(str,))  # type: ignore[untyped-decorator]
    def GetAddressByUser(self, user: str) -> list[str]:
        """The user's addresses."""
        return sorted({address for who, address in self._addresses if who == user})

    @command(dtype_in=str, dtype_out=(str,))  # type: ignore[untyped-decorator]
    def GetDeviceByUser(self, user: str) -> list[str]:
        """The user's devices and rights, flat: [device, rights, device, rights, ...]."""
        rows = sorted({(device, rights) for who, device, rights in self._devices if who == user})
        return [word for row in rows for word in row]

    @attribute(dtype=(str,), max_dim_x=KEPT)  # type: ignore[untyped-decorator]
    def Requests(self) -> list[str]:
        """What clients asked, oldest first."""
        return list(self._requests)

    def _answer(self, user: str, device: str, addresses: list[str]) -> str:
        access = access_of(user, device, addresses, self._addresses, self._devices)
        self._remember(f"{user} {device} {','.join(addresses)} -> {access}")
        return access

    def _add(self, table: list[Any], row: tuple[str, ...]) -> None:
        if row in table:
            tango.Except.throw_exception(
                "AC_AlreadyExists", "This record already exists in database", "AddForUser"
            )
        table.append(row)

    def _remove(self, table: list[Any], row: tuple[str, ...]) -> None:
        table[:] = [old for old in table if old != row]

    def _remember(self, text: str) -> None:
        self._requests = [*self._requests[-(KEPT - 1) :], text]


def _row(line: str, size: int) -> Any:
    words = str(line).split()
    if len(words) != size:
        raise ValueError(f"Expected {size} words: {line!r}")
    return tuple(words)


def _args(argin: Any, size: int) -> tuple[str, ...]:
    words = tuple(str(word) for word in argin)
    if len(words) < size:
        tango.Except.throw_exception(
            "AC_IncorrectArguments", f"Needs at least {size} input arguments", "AccessControl"
        )
    return words[:size]


@contextlib.contextmanager
def temporary_rules(
    service: tango.DeviceProxy,
    addresses: Iterable[tuple[str, str]] = (),
    devices: Iterable[tuple[str, str, str]] = (),
) -> Iterator[None]:
    """Add address rows ``(user, address)`` and device rows ``(user, device, rights)`` to an
    access service (the real one or the stand-in); on exit remove exactly those it added."""
    added: list[tuple[str, list[str]]] = []
    try:
        for user, address in addresses:
            if address not in service.GetAddressByUser(user):
                service.AddAddressForUser([user, address])
                added.append(("RemoveAddressForUser", [user, address]))
        for user, device, rights in devices:
            flat = list(service.GetDeviceByUser(user))
            if (device, rights) not in zip(flat[::2], flat[1::2], strict=True):
                service.AddDeviceForUser([user, device, rights])
                added.append(("RemoveDeviceForUser", [user, device, rights]))
        yield
    finally:
        for name, argument in reversed(added):
            service.command_inout(name, argument)


def main(args: list[str] | None = None) -> None:
    """Run the server: ``python -m tango_server.tools.accesscontrol <instance> [options]``."""
    # The server's name is the first argument's: registered as TangoAccessControl/<instance>.
    run(
        (TangoAccessControl,),
        args=["TangoAccessControl", *(sys.argv[1:] if args is None else args)],
    )


if __name__ == "__main__":
    main()
