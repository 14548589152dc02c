# Tango names commands and attributes in CamelCase.
# ruff: noqa: N802
"""A stand-in for Tango Access Control (the `TangoAccessControl` server of tango-accesscontrol),
answering what a cppTango client asks it, from its own properties: for tests and demos on the
embedded database, where the real one (which needs MariaDB) does not run.

What a cppTango client (pytango too) asks, once per process (it caches the answers):

- with the free property ``CtrlSystem/Services`` holding ``AccessControl/tango:<device>``, it pings
  that device (unless ``SUPER_TANGO=true``), then
- ``GetAccessForMultiIP([user, device, address, ...])``: its effective OS user (lower case), the
  device it opens, and its host's IPv4 addresses except 127.x; ``"write"`` or ``"read"`` back;
- for a device it may only read, before every command: ``GetAllowedCommands(device class)``; a
  command not in the list is refused in the client with ``API_ReadOnlyMode``, and so is every
  attribute write. The real service answers State, Status and the class property
  ``AllowedAccessCmd`` of that class; so does this one, with its own property for the last.

Properties: `Rules`, lines ``<user> <device> <read|write>`` (shell patterns, first match wins;
no match: write), and `AllowedCommands`, lines ``<class>: <command>,<command>``. Attribute
`Requests` lists what was asked, for tests to check. Run: ``python -m
tango_server.tools.accesscontrol <instance>``.
"""

from __future__ import annotations

import fnmatch
import sys
from typing import Any

from tango.server import Device, attribute, command, device_property, run  # type: ignore[import-untyped]

__all__ = ["TangoAccessControl", "main"]

#: Requests kept for `Requests`.
KEPT = 200


class TangoAccessControl(Device):  # type: ignore[misc]
    """Who may write to which device, and which commands a read-only client may still call."""

    Rules = device_property(
        dtype=(str,), default_value=[], doc="'<user> <device> <read|write>', patterns; first wins"
    )
    AllowedCommands = device_property(
        dtype=(str,),
        default_value=[],
        doc="'<class>: <command>,...': what read-only clients may call beside State and Status",
    )

    def init_device(self) -> None:
        super().init_device()
        self._requests: list[str] = []

    @command(dtype_in=(str,), dtype_out=str)  # type: ignore[untyped-decorator]
    def GetAccessForMultiIP(self, argin: Any) -> str:
        """[user, device, address, ...] -> "write" or "read"."""
        user, device, *addresses = [str(word) for word in argin]
        access = self._access(user.lower(), device.lower())
        self._remember(f"{user} {device} {','.join(addresses)} -> {access}")
        return access

    @command(dtype_in=(str,), dtype_out=str)  # type: ignore[untyped-decorator]
    def GetAccess(self, argin: Any) -> str:
        """[user, address, device] -> "write" or "read" (what clients ask without MultiIP)."""
        user, address, device = [str(word) for word in argin]
        access = self._access(user.lower(), device.lower())
        self._remember(f"{user} {device} {address} -> {access}")
        return access

    @command(dtype_in=str, dtype_out=(str,))  # type: ignore[untyped-decorator]
    def GetAllowedCommands(self, device_class: str) -> list[str]:
        """The commands a read-only client may call on devices of `device_class`."""
        allowed = ["State", "Status"]  # as the real service: for every class
        for line in self.AllowedCommands:
            name, _, commands = str(line).partition(":")
            if name.strip().lower() == device_class.lower():
                allowed += [c.strip() for c in commands.split(",") if c.strip()]
        self._remember(f"allowed {device_class} -> {','.join(allowed)}")
        return allowed

    @attribute(dtype=(str,), max_dim_x=KEPT)  # type: ignore[untyped-decorator]
    def Requests(self) -> list[str]:
        """What clients asked, oldest first."""
        return list(self._requests)

    def _access(self, user: str, device: str) -> str:
        for line in self.Rules:
            words = str(line).split()
            if len(words) != 3:
                continue
            who, which, access = words
            if fnmatch.fnmatchcase(user, who.lower()) and fnmatch.fnmatchcase(
                device, which.lower()
            ):
                return "write" if access.lower() == "write" else "read"
        return "write"

    def _remember(self, text: str) -> None:
        self._requests = [*self._requests[-(KEPT - 1) :], text]


def main(args: list[str] | None = None) -> None:
    """Run the server: ``python -m tango_server.tools.accesscontrol <instance> [options]``."""
    # The server's name is the first argument's: registered as TangoAccessControl/<instance>.
    run(
        (TangoAccessControl,),
        args=["TangoAccessControl", *(sys.argv[1:] if args is None else args)],
    )


if __name__ == "__main__":
    main()
