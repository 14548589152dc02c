"""`Frame`: one detector image with its metadata, over the receive buffer without a copy.

The pixels are a numpy ``uint16`` 2-D array when numpy is installed (the ``numpy`` extra), else an
``array.array('H')`` in row-major order. `ccdpc.files` saves and loads them.
"""

from __future__ import annotations

import array
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FULL_HEIGHT", "FULL_WIDTH", "Frame", "have_numpy", "pixels_from_buffer"]

FULL_WIDTH = 1242
FULL_HEIGHT = 1152

try:
    import numpy

    have_numpy = True
except ImportError:  # numpy is an optional extra
    have_numpy = False


def pixels_from_buffer(buffer: bytearray, width: int, height: int) -> Any:
    """A view of little-endian uint16 pixels: numpy ``(height, width)`` without a copy if numpy
    is there, else an ``array.array('H')`` (which has to copy)."""
    if len(buffer) != width * height * 2:
        raise ValueError(f"{len(buffer)} bytes are not {width}x{height} uint16 pixels")
    if have_numpy:
        return numpy.frombuffer(buffer, dtype="<u2").reshape(height, width)
    pixels = array.array("H")
    pixels.frombytes(buffer)
    if sys.byteorder == "big":
        pixels.byteswap()
    return pixels


@dataclass(frozen=True)
class Frame:
    """One image: its size, how it was taken, and its pixels (see the module docstring)."""

    width: int
    height: int
    pixels: Any = field(repr=False)
    binning: int = 1
    exposure: float = 0.0
    timestamp: float = field(default_factory=time.time)

    @classmethod
    def from_buffer(cls, buffer: bytearray, width: int, height: int, **meta: Any) -> Frame:
        return cls(width, height, pixels_from_buffer(buffer, width, height), **meta)

    def tobytes(self) -> bytes:
        """The pixels as little-endian uint16 bytes, row-major."""
        if not isinstance(self.pixels, array.array):
            return bytes(self.pixels.astype("<u2", copy=False).tobytes())
        if sys.byteorder == "big":
            swapped = array.array("H", self.pixels)
            swapped.byteswap()
            return swapped.tobytes()
        return self.pixels.tobytes()

    def statistics(self) -> tuple[int, int, float]:
        """Minimum, maximum and mean pixel value."""
        if not isinstance(self.pixels, array.array):
            return int(self.pixels.min()), int(self.pixels.max()), float(self.pixels.mean())
        values = self.pixels
        return min(values), max(values), sum(values) / len(values)
