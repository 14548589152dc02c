"""The 16-byte greeting every generation starts with: pure encode and parse, no sockets."""

from __future__ import annotations

import re

from .errors import protocolerror

__all__ = ["GREETING_SIZE", "encode_greeting", "parse_greeting"]

GREETING_SIZE = 16
_PATTERN = re.compile(rb"CCDPC/([0-9]{1,4})\.([0-9]{1,4}) *\r\n")


def encode_greeting(major: int, minor: int) -> bytes:
    """The greeting a server of version `major.minor` sends, e.g. ``b"CCDPC/2.1     \\r\\n"``."""
    text = f"CCDPC/{major}.{minor}".ljust(14).encode("ascii")
    if len(text) != 14:
        raise ValueError(f"version {major}.{minor} does not fit a greeting")
    return text + b"\r\n"


def parse_greeting(data: bytes | bytearray) -> tuple[int, int]:
    """Return ``(major, minor)`` from a greeting, or raise `protocolerror` quoting the bytes.

    Which majors the driver supports is not decided here but by the factory's table.
    """
    match = _PATTERN.fullmatch(bytes(data))
    if len(data) != GREETING_SIZE or match is None:
        raise protocolerror(
            f"Not a CCDPC server: greeting {bytes(data)!r}", bytes(data), GREETING_SIZE
        )
    return int(match[1]), int(match[2])
