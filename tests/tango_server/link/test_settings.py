"""Property values -> `Settings`, or `BadProperty` naming the property. No tango, no sockets."""

from __future__ import annotations

import math

import pytest

from tango_server.link.settings import (
    DEFAULT_TIMEOUT,
    MAX_PACKET_SIZE,
    RECEIVER_TIMEOUT,
    BadProperty,
    Settings,
    settings_from_properties,
)


def test_defaults() -> None:
    assert settings_from_properties("pc") == Settings("pc", 9033)
    s = settings_from_properties("pc")
    assert (s.connect_timeout, s.first_packet_timeout, s.packet_timeout) == (DEFAULT_TIMEOUT,) * 3
    assert (s.auto_connect, s.debug, s.max_packet_size) == (True, False, MAX_PACKET_SIZE)
    assert s.receiver_timeout == RECEIVER_TIMEOUT
    assert settings_from_properties("pc", receiver_timeout=2.5).receiver_timeout == 2.5


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("pc", None, ("pc", 9033)),
        ("pc", 0, ("pc", 9033)),
        ("pc", 1234, ("pc", 1234)),
        ("pc:1234", None, ("pc", 1234)),
        ("pc:1234", 1234, ("pc", 1234)),
        (" pc:1234 ", 0, ("pc", 1234)),
        ("[::1]:1234", None, ("::1", 1234)),
    ],
)
def test_host_and_port(host: str, port: int | None, expected: tuple[str, int]) -> None:
    s = settings_from_properties(host, port=port)
    assert (s.host, s.port) == expected


def test_hostname_for_the_driver() -> None:
    assert Settings("pc", 1).hostname == "pc:1"
    assert Settings("::1", 2).hostname == "[::1]:2"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"host": None}, "Host"),
        ({"host": "  "}, "Host"),
        ({"host": "a:b:c"}, "Host"),
        ({"host": "pc:99999"}, "Host"),
        ({"host": "pc", "port": -1}, "Port"),
        ({"host": "pc", "port": 65536}, "Port"),
        ({"host": "pc:1", "port": 2}, "Port"),
        ({"host": "pc", "connect_timeout": 0}, "ConnectTimeout"),
        ({"host": "pc", "first_packet_timeout": -1}, "FirstPacketTimeout"),
        ({"host": "pc", "packet_timeout": math.nan}, "PacketTimeout"),
        ({"host": "pc", "packet_timeout": math.inf}, "PacketTimeout"),
        ({"host": "pc", "connect_timeout": 3601}, "ConnectTimeout"),
        ({"host": "pc", "max_packet_size": 0}, "MaxPacketSize"),
        ({"host": "pc", "max_packet_size": MAX_PACKET_SIZE + 1}, "MaxPacketSize"),
        ({"host": "pc", "receiver_timeout": 0}, "ReceiverTimeout"),
        ({"host": "pc", "receiver_timeout": math.inf}, "ReceiverTimeout"),
    ],
)
def test_bad_values_name_their_property(kwargs: dict[str, object], name: str) -> None:
    host = kwargs.pop("host")
    with pytest.raises(BadProperty) as exc:
        settings_from_properties(host, **kwargs)  # type: ignore[arg-type]
    assert exc.value.name == name
    assert str(exc.value).startswith(f"Property {name}: ")
