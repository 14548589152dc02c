"""Sardana support: the folder of the ``CCDPCTwoDController`` for a Pool's ``PoolPath``.

The controller module (``CCDPCTwoDCtrl.py``) is loaded by the Pool from `CONTROLLER_DIR`, as a
file: it imports tango and sardana only. This package imports neither, so `tango_server` stays
importable without sardana.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONTROLLER_CLASS", "CONTROLLER_DIR", "CONTROLLER_FILE"]

#: The folder to put in the Pool's ``PoolPath`` property.
CONTROLLER_DIR = str(Path(__file__).resolve().parent)
#: The controller's module file and class, as ``defctrl`` and ``CreateController`` name them.
CONTROLLER_FILE = "CCDPCTwoDCtrl.py"
CONTROLLER_CLASS = "CCDPCTwoDController"
