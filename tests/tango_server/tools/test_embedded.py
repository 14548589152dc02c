"""The embedded stack's helpers that need no server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tango_server.tools.embedded import console_script


def test_console_script_beside_the_interpreter_first() -> None:
    found = console_script("PyDatabaseds")  # the demo extra, which the tests install
    assert Path(found) == Path(sys.executable).with_name("PyDatabaseds")


def test_a_missing_console_script_names_the_extra_that_brings_it() -> None:
    with pytest.raises(FileNotFoundError, match="Pool not-here not found: install the sardana"):
        console_script("Pool not-here", "sardana")
