"""Driver and link exceptions -> `tango.DevFailed`, one stable reason per kind of failure.

Clients (and their scripts) branch on ``exc.args[0].reason``; the reasons below are the contract.
The first matching row wins, so subclasses come before their bases (`ccdpc.protocolerror` is also
a `ValueError`, `ccdpc.timeout` also a `ccdpc.error`).
"""

from __future__ import annotations

from typing import NoReturn

import tango  # type: ignore[import-untyped]

import ccdpc

from .link.state import LinkBusy, NoFrame, NotConnected, WaitTimeout
from .saving.options import SavingError

__all__ = ["REASONS", "raise_devfailed", "reason_for"]

#: Exception class -> DevFailed reason, most specific first.
REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (ccdpc.timeout, "CCDPC_Timeout"),
    (WaitTimeout, "CCDPC_Timeout"),
    (ccdpc.emptypacket, "CCDPC_EmptyPacket"),
    (ccdpc.protocolerror, "CCDPC_ProtocolError"),
    (ccdpc.error, "CCDPC_Error"),
    (NotConnected, "CCDPC_NotConnected"),
    (LinkBusy, "CCDPC_Busy"),
    (ccdpc.CommandError, "CCDPC_CommandFailed"),
    (NoFrame, "CCDPC_NoFrame"),
    (SavingError, "CCDPC_SavingError"),
    (ValueError, "CCDPC_BadArgument"),
)


def reason_for(exc: BaseException) -> str:
    """The DevFailed reason for an exception (``CCDPC_Error`` for anything unforeseen)."""
    if isinstance(exc, ccdpc.CommandError) and exc.busy:
        return "CCDPC_Busy"
    for cls, reason in REASONS:
        if isinstance(exc, cls):
            return reason
    return "CCDPC_Error"


def raise_devfailed(exc: BaseException, origin: str) -> NoReturn:
    """Raise the `DevFailed` for `exc`: its reason, its message as description, `origin`."""
    desc = str(exc) or type(exc).__name__
    tango.Except.throw_exception(reason_for(exc), desc, origin)
    raise AssertionError("unreachable: throw_exception raises")
