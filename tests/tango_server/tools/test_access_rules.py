"""The stand-in access service's answers, as TangoAccessControl 9.3.4 (Debian 12) gives them,
found by asking it. No tango server: the rules alone."""

from __future__ import annotations

from tango_server.tools.accesscontrol import access_of

DEFAULT_ADDRESSES = [("*", "*.*.*.*")]
DEFAULT_DEVICES = [("*", "*/*/*", "write")]
HERE = ["192.0.2.7", "10.1.2.3"]


def ask(
    user: str, device: str, addresses: list[tuple[str, str]], devices: list[tuple[str, str, str]]
) -> str:
    return access_of(user, device, HERE, addresses, devices)


def test_own_rows_decide_then_those_of_everyone() -> None:
    assert ask("alice", "bl/kappaccd/pc", DEFAULT_ADDRESSES, DEFAULT_DEVICES) == "write"
    assert ask("alice", "bl/kappaccd/pc", DEFAULT_ADDRESSES, []) == "read"
    reader = [*DEFAULT_DEVICES, ("alice", "bl/*/*", "read")]
    assert ask("alice", "bl/kappaccd/pc", DEFAULT_ADDRESSES, reader) == "read"
    assert ask("alice", "sys/database/2", DEFAULT_ADDRESSES, reader) == "write"  # from "*"
    everyone_reads = [("*", "*/*/*", "read"), ("alice", "bl/*/*", "write")]
    assert ask("alice", "bl/kappaccd/pc", DEFAULT_ADDRESSES, everyone_reads) == "write"
    assert ask("bob", "bl/kappaccd/pc", DEFAULT_ADDRESSES, everyone_reads) == "read"


def test_read_wins_among_matching_rows() -> None:
    both = [("alice", "bl/*/*", "write"), ("alice", "bl/kappaccd/pc", "read")]
    assert ask("alice", "bl/kappaccd/pc", DEFAULT_ADDRESSES, both) == "read"
    assert ask("alice", "bl/other/pc", DEFAULT_ADDRESSES, both) == "write"


def test_addresses_of_the_user_replace_those_of_everyone() -> None:
    rights = [("alice", "*/*/*", "write")]
    assert ask("alice", "a/b/c", [*DEFAULT_ADDRESSES, ("alice", "10.1.2.*")], rights) == "write"
    assert ask("alice", "a/b/c", [*DEFAULT_ADDRESSES, ("alice", "10.1.*.*")], rights) == "write"
    assert ask("alice", "a/b/c", [*DEFAULT_ADDRESSES, ("alice", "10.9.*.*")], rights) == "read"
    # what the client never sends: loopback
    assert ask("alice", "a/b/c", [*DEFAULT_ADDRESSES, ("alice", "127.0.0.1")], rights) == "read"
    assert ask("alice", "a/b/c", [], rights) == "read"


def test_member_patterns() -> None:
    def rights(pattern: str, device: str) -> str:
        return ask("alice", device, DEFAULT_ADDRESSES, [("alice", pattern, "write")])

    assert rights("bl/kappa*/pc", "bl/kappaccd/pc") == "write"
    assert rights("bl/*ccd/pc", "bl/kappaccd/pc") == "write"
    assert rights("bl/kappaccd/pc", "BL/KappaCCD/PC") == "write"
    assert rights("bl/other/pc", "bl/kappaccd/pc") == "read"
    assert rights("bl/kappaccd", "bl/kappaccd/pc") == "read"
