"""The CRC-32 of generation 3 frames, from the fastest library installed; the one place that
chooses.

ISA-L's `crc32` (the optional ``isal`` package, which the ``tango`` extra brings) gives the values
of ``zlib.crc32`` some 6x faster over a 2.86 MB frame on a plain x86-64 core, and some 3x faster
over a command's few bytes, where the call's overhead dominates; ``zlib`` is the fallback, always
there. The framing (`ccdpc.gen3`, `ccdpc.level5`) calls `crc32` through this module, so `use`
switches every caller at once: the benchmarks measure both in one run, the tests check both.
"""

from __future__ import annotations

import zlib
from typing import Protocol

__all__ = ["CRC32S", "Crc32", "crc32", "use", "using"]

Buffer = bytes | bytearray | memoryview


class Crc32(Protocol):
    """``zlib.crc32``'s signature."""

    def __call__(self, data: Buffer, value: int = 0, /) -> int: ...


#: The implementations installed, fastest first: name -> ``crc32(data, value=0)``.
CRC32S: dict[str, Crc32] = {}
try:
    from isal import isal_zlib
except ImportError:  # an optional dependency
    pass
else:
    CRC32S["isal"] = isal_zlib.crc32
CRC32S["zlib"] = zlib.crc32

#: The name of the implementation in use.
using: str = next(iter(CRC32S))
#: ``crc32(data, value=0)``: the CRC-32 of `data`, continuing from `value` (that of the bytes
#: before it), as ``zlib.crc32`` computes it.
crc32: Crc32 = CRC32S[using]


def use(name: str) -> None:
    """Compute CRC-32s with the implementation `name` (a key of `CRC32S`) from now on."""
    global crc32, using  # noqa: PLW0603 - the one switch every caller reads
    try:
        crc32 = CRC32S[name]
    except KeyError:
        raise ValueError(f"No CRC-32 {name!r} installed; there are {', '.join(CRC32S)}") from None
    using = name
