"""Tango device server for the detector control PC: the `CCDPC` device class over `ccdpc`.

Run it as ``CCDPC <instance>`` or ``python -m tango_server <instance>``. The device is imported
lazily, so `tango_server.link` and `tango_server.saving` work (and are tested) without tango.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .device import CCDPC

__all__ = ["CCDPC"]


def __getattr__(name: str) -> Any:
    if name == "CCDPC":
        return importlib.import_module(".device", __name__).CCDPC
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
