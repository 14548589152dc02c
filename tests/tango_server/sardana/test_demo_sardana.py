"""``ccdpc-demo --sardana --once`` end to end: the Sardana part of its output, the scan file it
wrote, and no Pool or MacroServer left running afterwards."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("sardana")

from ..tools.test_demo import leftovers, run_once  # noqa: E402
from .test_controller import FULL, expected  # noqa: E402


def test_demo_sardana_once(tmp_path: Path) -> None:
    out = run_once(tmp_path, "--sardana")
    assert re.search(r"ct 0\.2 .*\n.*\n +ccdpc2d += +\[1152, 1242\]", out), out
    assert re.search(r"ascan mot01 0 1 2 0\.2", out), out
    scan_file = Path(re.search(r"scan file +(\S+)", out)[1])  # type: ignore[index]
    assert scan_file == tmp_path.resolve() / "scans" / "scan.h5"
    with h5py.File(scan_file, "r") as f:
        data = f["entry1/measurement/ccdpc2d"][()]
    assert data.shape == (3, *FULL)
    for point in range(3):  # the device's frame 1 is the demo's own; ct took frame 2
        assert np.array_equal(data[point], expected(FULL, 3 + point))
    tango_host = re.search(r"export TANGO_HOST=(\S+)", out)[1]  # type: ignore[index]
    assert f"TANGO_HOST={tango_host} spock --profile=" in out
    assert "door/ccdpc/1" in out
    assert leftovers(tmp_path, tango_host) == []
