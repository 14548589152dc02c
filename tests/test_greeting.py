"""The 16-byte greeting: golden forms, every malformation, arbitrary bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccdpc import protocolerror
from ccdpc.greeting import encode_greeting, parse_greeting


@pytest.mark.parametrize(
    ("greeting", "version"),
    [
        (b"CCDPC/1.0     \r\n", (1, 0)),
        (b"CCDPC/2.1     \r\n", (2, 1)),
        (b"CCDPC/3.12    \r\n", (3, 12)),
        (b"CCDPC/1234.567\r\n", (1234, 567)),
        (b"CCDPC/9.0     \r\n", (9, 0)),
    ],
)
def test_valid_greetings(greeting: bytes, version: tuple[int, int]) -> None:
    assert parse_greeting(greeting) == version
    assert encode_greeting(*version) == greeting


@pytest.mark.parametrize(
    "greeting",
    [
        b"CCDPX/2.1     \r\n",  # wrong prefix
        b"ccdpc/2.1     \r\n",  # prefix is case-sensitive
        b"CCDPC/2.1      \n",  # no CR
        b"CCDPC/2.1     \n\r",
        b"CCDPC/2       \r\n",  # no minor
        b"CCDPC/.1      \r\n",
        b"CCDPC/2.1x    \r\n",
        b"CCDPC/-2.1    \r\n",
        b"CCDPC/ 2.1    \r\n",
        b"CCDPC/2.1\xff    \r\n",  # not ASCII
        b"CCDPC/2.1    \r\n",  # 15 bytes
        b"CCDPC/2.1      \r\n",  # 17 bytes
        b"SSH-2.0-OpenSSH\n",
        b"\x00" * 16,
    ],
)
def test_malformed_greetings_quote_the_bytes(greeting: bytes) -> None:
    with pytest.raises(protocolerror) as info:
        parse_greeting(greeting)
    assert repr(greeting) in str(info.value)
    assert info.value.partial == greeting


def test_version_too_long_for_a_greeting() -> None:
    with pytest.raises(ValueError):
        encode_greeting(12345, 678)


@given(st.binary(max_size=32))
def test_arbitrary_bytes_parse_or_raise_protocolerror(data: bytes) -> None:
    try:
        major, minor = parse_greeting(data)
    except protocolerror:
        return
    assert encode_greeting(major, minor) == data
