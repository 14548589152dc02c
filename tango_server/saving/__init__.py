"""Frames to disk, under the device's DataFolder and nowhere else. No tango import.

`paths`: SaveFrame's single frames. `options`, `writers`, `buffer`: the saving of a series
(Lima's saving_* settings, KCD/NPY files per frame or one NeXus HDF5 file, a bounded buffer
before a writer thread).
"""

from __future__ import annotations

from .buffer import DEFAULT_CAPACITY, SeriesBuffer
from .options import Format, Mode, Plan, Policy, SavingError, SavingOptions
from .paths import SUFFIXES, save, target_path
from .writers import open_writer

__all__ = [
    "DEFAULT_CAPACITY",
    "SUFFIXES",
    "Format",
    "Mode",
    "Plan",
    "Policy",
    "SavingError",
    "SavingOptions",
    "SeriesBuffer",
    "open_writer",
    "save",
    "target_path",
]
