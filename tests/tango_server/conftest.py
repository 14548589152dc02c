"""Fixtures: simulators on port 0, started before the test and stopped after it; bounded waits.

No tango import here: the link's unit tests run without it. Device helpers: `devices.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ..fault_report import FaultMatrix


@pytest.fixture
def fault_matrix(fault_matrix: FaultMatrix) -> FaultMatrix:
    """The fault cases of device tests go in the Tango level's table."""
    fault_matrix.level = "tango"
    return fault_matrix


def wait_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Poll `condition()` until true; `AssertionError` naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or condition}")
        time.sleep(0.02)
