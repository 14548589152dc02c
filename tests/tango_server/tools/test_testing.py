"""`tango_server.tools.testing`: a server whose first ping fails under load is pinged again, past
cppTango's throttle, instead of failing the test that wanted it."""

from __future__ import annotations

from typing import Any

import pytest
import tango  # type: ignore[import-untyped]

from tango_server.tools import testing


def devfailed(reason: str) -> tango.DevFailed:
    try:
        tango.Except.throw_exception(reason, "made up", "test")
    except tango.DevFailed as exc:
        return exc
    raise AssertionError("throw_exception did not throw")


class Proxy:
    """Fails its first `failures` pings with `reason`."""

    def __init__(self, failures: int, reason: str = "API_CantConnectToDevice") -> None:
        self.failures, self.reason, self.pings = failures, reason, 0

    def ping(self) -> int:
        self.pings += 1
        if self.pings <= self.failures:
            raise devfailed(self.reason)
        return 1


class Context:
    """Stands in for a MultiDeviceTestContext whose start's ping failed."""

    def __init__(self, server: Proxy, enter: tango.DevFailed | None) -> None:
        self.server, self.enter, self.exited = server, enter, False

    def __enter__(self) -> Any:
        if self.enter is not None:
            raise self.enter
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited = True


@pytest.fixture(autouse=True)
def no_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "_THROTTLE", 0.001)


def test_a_throttled_start_is_pinged_again() -> None:
    context = Context(Proxy(failures=2), devfailed("API_CantConnectToDevice"))
    assert testing._started(lambda: context) is context
    assert (context.server.pings, context.exited) == (3, False)


def test_another_failure_stops_the_server_and_is_raised() -> None:
    context = Context(Proxy(failures=0), devfailed("API_DeviceNotExported"))
    with pytest.raises(tango.DevFailed):
        testing._started(lambda: context)
    assert context.exited


def test_a_server_that_never_answers_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "_CONNECT_SECONDS", 0.05)
    context = Context(Proxy(failures=10**6), devfailed("API_CantConnectToDevice"))
    with pytest.raises(tango.DevFailed):
        testing._started(lambda: context)
    assert context.exited
