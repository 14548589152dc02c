"""The fault matrix plugin (tests/fault_report.py): its tables, and FAILED for a failed test."""

from __future__ import annotations

from pathlib import Path

import pytest

from .fault_report import ANY, Case, render_markdown, render_text

pytest_plugins = ["pytester"]

CASES = [
    Case("driver", "stall-first", 1, "timeout: select interrupted by timeout", 0.5, 0.01),
    Case("driver", "stall-first", 3, "timeout: select interrupted by timeout", 0.51),
    Case("driver", "bad-crc", 3, "protocolerror: Bad CRC", 0.0, failed=True),
    Case("driver", "unresolvable host", ANY, "error: Cannot resolve host 'x'", 0.02),
    Case("tango", "half-close", 2, "DevFailed CCDPC_EmptyPacket, FAULT", 0.004, 0.1),
]


def test_text_tables_one_per_level() -> None:
    text = render_text(CASES)
    driver, tango = text.split("\n\n")
    lines = driver.splitlines()
    assert lines[0] == "fault matrix, driver level"
    assert lines[1].split() == ["scenario", "any", "gen1", "gen3"]
    assert lines[3].startswith("stall-first ")
    assert "timeout: select interrupted by timeout, 0.50 s, back in 0.01 s" in lines[3]
    assert lines[3].rstrip().endswith("timeout: select interrupted by timeout, 0.51 s")
    assert lines[4].split()[-1] == "FAILED"
    assert lines[5].startswith("unresolvable host  error: Cannot resolve host 'x', 0.02 s")
    assert "DevFailed CCDPC_EmptyPacket, FAULT, 0.00 s, back in 0.10 s" in tango


def test_markdown_tables() -> None:
    markdown = render_markdown(CASES)
    assert "## Driver level" in markdown and "## Tango level" in markdown
    assert "| scenario | any | gen1 | gen3 |" in markdown
    assert "| bad-crc | - | - | FAILED |" in markdown
    assert "| half-close | DevFailed CCDPC_EmptyPacket, FAULT, 0.00 s, back in 0.10 s |" in markdown


def test_a_long_outcome_is_cut() -> None:
    cell = Case("driver", "garbage", 1, "protocolerror: " + "x" * 200, 0.0).cell()
    assert cell.endswith("..., 0.00 s") and len(cell) < 70


def test_in_a_pytest_run(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.fault_report"]')
    pytester.makepyfile(
        """
        def test_passes(fault_matrix):
            with fault_matrix.case("reset", 2) as case:
                case.outcome = "error: Socket died on us."

        def test_fails(fault_matrix):
            with fault_matrix.case("reset", 1) as case:
                case.outcome = "error: Socket died on us."
                assert False
        """
    )
    report = tmp_path / "matrix.md"
    monkeypatch.setenv("CCDPC_FAULT_REPORT", str(report))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= fault matrix =*",
            "fault matrix, driver level",
            "reset*FAILED*error: Socket died on us.",
        ]
    )
    assert "| reset | FAILED | error: Socket died on us. |" in report.read_text()
