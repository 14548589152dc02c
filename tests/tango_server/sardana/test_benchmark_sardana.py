"""The Sardana benchmark runs (quick sizes) and reports finite numbers."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("sardana")
pytest.importorskip("h5py")

from benchmarks import sardana_ct


def test_sardana_benchmark_runs_and_reports_numbers() -> None:
    ct, ascan = sardana_ct.run(quick=True)
    assert ct.name.startswith("ct 0.1 through Sardana")
    assert ct.target == "<= 1.3x"
    assert len(ct.round_ratios) == 2
    for result in (ct, ascan):
        assert result.baseline is not None and result.baseline > 0, result
        assert result.project > 0 and math.isfinite(result.project), result
        assert result.ratio is not None and result.ratio > 0, result
