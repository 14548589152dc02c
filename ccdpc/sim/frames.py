"""Synthetic diffraction images: background, powder rings, Bragg spots, a beamstop and noise.

Everything is integer arithmetic with a small integer hash for the noise, so the pure Python path
and the numpy path (used when numpy is importable, about 100 times faster) give identical bytes.
"""

from __future__ import annotations

import sys
from array import array

try:
    import numpy as np

    HAVE_NUMPY = True
except ImportError:  # pragma: no cover - numpy is optional
    HAVE_NUMPY = False

__all__ = ["HAVE_NUMPY", "synthetic_frame"]

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_MAX = 0xFFFF
#: A 5 x 5 spot profile; weights in sixteenths of the spot's peak.
_SPOT = (
    (0, 1, 2, 1, 0),
    (1, 4, 8, 4, 1),
    (2, 8, 16, 8, 2),
    (1, 4, 8, 4, 1),
    (0, 1, 2, 1, 0),
)
_RINGS = 4


def _mix(*values: int) -> int:
    """A 64-bit hash of some integers (splitmix64 steps): the source of every 'random' number."""
    h = 0x9E3779B97F4A7C15
    for value in values:
        h = (h ^ (value & _M64)) * 0xBF58476D1CE4E5B9 & _M64
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & _M64
        h ^= h >> 29
    return h


class _Geometry:
    """The parameters of one image, all integers, shared by both paths."""

    def __init__(self, width: int, height: int, seed: int, number: int) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"a frame has a positive size, not {width} x {height}")
        short = min(width, height)
        # The beam centre and the rings belong to the crystal (the seed); spots and noise change
        # from frame to frame.
        self.cx = width // 2 + _mix(seed, 1) % (width // 16 + 1) - width // 32
        self.cy = height // 2 + _mix(seed, 2) % (height // 16 + 1) - height // 32
        self.base = 100 + _mix(seed, 3) % 50
        self.air = 1500 + _mix(seed, 4) % 1000
        self.air_scale = (short // 5) ** 2 + 1
        self.beamstop = (short // 40 + 1) ** 2
        self.rings = [
            (
                short * (18 + 16 * i + _mix(seed, 10, i) % 6) // 100 + 1,
                600 + _mix(seed, 11, i) % 1500,
                max(2, short // 300) ** 2,
            )
            for i in range(_RINGS)
        ]
        count = 30 + _mix(seed, number, 20) % 30
        self.spots = [
            (
                _mix(seed, number, 21, k) % width,
                _mix(seed, number, 22, k) % height,
                2000 + _mix(seed, number, 23, k) % 40000,
            )
            for k in range(count)
        ]
        self.noise_key = _mix(seed, number, 30) & _M32


def _noise_pure(index: int, key: int) -> int:
    h = (index * 0x9E3779B1 + key) & _M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    return h & 31


def _frame_pure(width: int, height: int, g: _Geometry) -> bytes:
    pixels: list[int] = []
    dx2 = [(x - g.cx) ** 2 for x in range(width)]
    for y in range(height):
        dy2 = (y - g.cy) ** 2
        row = y * width
        for x in range(width):
            r2 = dx2[x] + dy2
            if r2 < g.beamstop:
                value = 20
            else:
                value = g.base + g.air * g.air_scale // (g.air_scale + r2)
                for radius, peak, w2 in g.rings:
                    d = abs(r2 - radius * radius) // (2 * radius + 1)
                    value += peak * w2 // (w2 + d * d)
            pixels.append(value + _noise_pure(row + x, g.noise_key))
    for sx, sy, peak in g.spots:
        for j, weights in enumerate(_SPOT):
            y = sy + j - 2
            if 0 <= y < height:
                for i, weight in enumerate(weights):
                    x = sx + i - 2
                    if 0 <= x < width:
                        pixels[y * width + x] += peak * weight // 16
    out = array("H", (min(value, _MAX) for value in pixels))
    if sys.byteorder == "big":  # pragma: no cover - the wire is little-endian
        out.byteswap()
    return out.tobytes()


def _frame_numpy(width: int, height: int, g: _Geometry) -> bytes:
    dx2 = (np.arange(width, dtype=np.int64) - g.cx) ** 2
    dy2 = (np.arange(height, dtype=np.int64) - g.cy) ** 2
    r2 = dy2[:, None] + dx2[None, :]
    value = g.base + g.air * g.air_scale // (g.air_scale + r2)
    for radius, peak, w2 in g.rings:
        d = np.abs(r2 - radius * radius) // (2 * radius + 1)
        value += peak * w2 // (w2 + d * d)
    value[r2 < g.beamstop] = 20
    index = np.arange(width * height, dtype=np.uint64).reshape(height, width)
    h = (index * np.uint64(0x9E3779B1) + np.uint64(g.noise_key)) & np.uint64(_M32)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(_M32)
    h ^= h >> np.uint64(13)
    value += (h & np.uint64(31)).astype(np.int64)
    kernel = np.array(_SPOT, dtype=np.int64)
    for sx, sy, peak in g.spots:
        # Clip the 5 x 5 patch to the image, as the pure path does pixel by pixel.
        y0, y1 = max(sy - 2, 0), min(sy + 3, height)
        x0, x1 = max(sx - 2, 0), min(sx + 3, width)
        patch = kernel[y0 - sy + 2 : y1 - sy + 2, x0 - sx + 2 : x1 - sx + 2]
        value[y0:y1, x0:x1] += peak * patch // 16
    return bytes(np.minimum(value, _MAX).astype("<u2").tobytes())


def synthetic_frame(
    width: int, height: int, seed: int, number: int, *, use_numpy: bool | None = None
) -> bytes:
    """Frame `number` of a simulator seeded with `seed`: ``width * height`` uint16 pixels,
    little-endian, row-major, as bytes. Deterministic from ``(width, height, seed, number)``.

    `use_numpy` forces a path (None: numpy when importable); both give the same bytes.
    """
    geometry = _Geometry(width, height, seed, number)
    if use_numpy is None:
        use_numpy = HAVE_NUMPY
    if use_numpy:
        if not HAVE_NUMPY:
            raise ValueError("numpy is not importable")
        return _frame_numpy(width, height, geometry)
    return _frame_pure(width, height, geometry)
