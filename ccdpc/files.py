"""Frames to and from files: the KappaCCD ``.kcd`` format and numpy's ``.npy``, stdlib only.

A ``.kcd`` file is ASCII header lines ``key = value`` (the first line a title), an empty line, then
the pixels as little-endian uint16, row-major; ``fabio.open`` reads it. The ``.npy`` writer and
reader follow numpy's format version 1.0, so neither needs numpy.
"""

from __future__ import annotations

import os
import re
import struct
import time
from pathlib import Path

from .image import Frame

__all__ = ["load_frame", "read_kcd", "read_npy", "save_frame", "write_kcd", "write_npy"]

_KCD_TITLE = "KappaCCD image"
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
_MAX_HEADER_LINES = 200
# The header is a Python literal; it is matched, never evaluated.
_NPY_SPEC = re.compile(
    r"\{'descr': '[<|]u2', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \} *\n"
)


def save_frame(frame: Frame, path: str | os.PathLike[str]) -> Path:
    """Write `frame` as ``.kcd`` or ``.npy``, by the suffix of `path`; return the path."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".kcd":
        write_kcd(frame, target)
    elif suffix == ".npy":
        write_npy(frame, target)
    else:
        raise ValueError(f"Cannot save a frame as {suffix or 'no suffix'!r}: use .kcd or .npy")
    return target


def load_frame(path: str | os.PathLike[str]) -> Frame:
    """Read a ``.kcd`` or ``.npy`` file written by `save_frame`."""
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix == ".kcd":
        return read_kcd(source)
    if suffix == ".npy":
        return read_npy(source)
    raise ValueError(f"Cannot load a frame from {suffix or 'no suffix'!r}: use .kcd or .npy")


def write_kcd(frame: Frame, path: Path) -> None:
    header = {
        "X dimension": frame.width,
        "Y dimension": frame.height,
        "Data type": "u16",
        "Number of readouts": 1,
        "Binning": frame.binning,
        "Exposure time": f"{frame.exposure:.3f}",
        "Date": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(frame.timestamp)),
        "Timestamp": f"{frame.timestamp:.6f}",
    }
    lines = [_KCD_TITLE, *(f"{key} = {value}" for key, value in header.items()), ""]
    with open(path, "wb") as out:
        out.write(("\n".join(lines) + "\n").encode("ascii"))
        out.write(frame.tobytes())


def read_kcd(path: Path) -> Frame:
    """Read a ``.kcd`` file: header up to the first line without ``=``; pixels end the file."""
    with open(path, "rb") as source:
        header: dict[str, str] = {}
        source.readline()
        for _ in range(_MAX_HEADER_LINES):
            line = source.readline(101).decode("ascii", "replace")
            if "=" not in line:
                break
            key, value = line.split("=", 1)
            header[key.strip()] = value.strip()
        try:
            width, height = int(header["X dimension"]), int(header["Y dimension"])
            readouts = int(header.get("Number of readouts", "1"))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path} is not a KCD frame: {exc}") from None
        if header.get("Data type", "u16") != "u16" or readouts != 1:
            raise ValueError(f"{path}: only single-readout u16 KCD frames are supported")
        size = width * height * 2
        source.seek(0, os.SEEK_END)
        if source.tell() < size:
            raise ValueError(f"{path} is shorter than its {width}x{height} pixels")
        source.seek(-size, os.SEEK_END)
        pixels = bytearray(size)
        source.readinto(pixels)
    return Frame.from_buffer(
        pixels,
        width,
        height,
        binning=int(header.get("Binning", "1")),
        exposure=float(header.get("Exposure time", "0")),
        timestamp=float(header.get("Timestamp", "0")),
    )


def write_npy(frame: Frame, path: Path) -> None:
    """numpy format 1.0: magic, header length, a Python-literal dict padded to 64 bytes."""
    spec = f"{{'descr': '<u2', 'fortran_order': False, 'shape': ({frame.height}, {frame.width}), }}"
    length = -(-(len(_NPY_MAGIC) + 2 + len(spec) + 1) // 64) * 64 - len(_NPY_MAGIC) - 2
    with open(path, "wb") as out:
        out.write(_NPY_MAGIC + struct.pack("<H", length) + spec.ljust(length - 1).encode() + b"\n")
        out.write(frame.tobytes())


def read_npy(path: Path) -> Frame:
    with open(path, "rb") as source:
        if source.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise ValueError(f"{path} is not a numpy 1.0 file")
        (length,) = struct.unpack("<H", source.read(2))
        spec = _NPY_SPEC.fullmatch(source.read(length).decode("latin-1"))
        if spec is None:
            raise ValueError(f"{path} does not hold a C-order 2-D array of uint16 pixels")
        height, width = int(spec[1]), int(spec[2])
        pixels = bytearray(width * height * 2)
        if source.readinto(pixels) != len(pixels):
            raise ValueError(f"{path} is shorter than its {width}x{height} pixels")
    return Frame.from_buffer(pixels, width, height)
