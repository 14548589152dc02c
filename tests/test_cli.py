"""The ``ccdpc`` command against the simulator, and its error paths, as a user runs it."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fabio
import numpy
import pytest

from ccdpc.cli import EXIT_LINK, EXIT_REFUSED, EXIT_USAGE, main
from ccdpc.sim import Simulator, synthetic_frame


@pytest.fixture(params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(protocol=request.param, port=0, seed=3) as simulator:
        yield simulator


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def test_probe(sim: Simulator) -> None:
    code, text = run("probe", sim.hostname, "--count", "5")
    assert code == 0
    classes = {1: "StandardCCDPC", 2: "NewCCDPC", 3: "CCDPC3"}
    assert f"generation  {sim.protocol} ({classes[sim.protocol]})" in text
    assert f"protocol    {sim.protocol}.0" in text
    assert "ident       KAPPACCD-SIM " in text
    assert "latency " in text and " us (median of 5 STATUS)" in text


def test_cmd(sim: Simulator) -> None:
    assert run("cmd", sim.hostname, "shutter", "open") == (0, "SHUTTER OPEN\n")


def test_cmd_refused(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("cmd", sim.hostname, "READ")[0] == EXIT_REFUSED
    assert capsys.readouterr().err == "ccdpc: CommandError: no frame\n"


def test_acquire_saves_a_kcd_fabio_reads(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "frame.kcd"
    code, text = run("acquire", sim.hostname, "-s", "0.2", "-b", "2", "-o", str(target))
    assert code == 0
    assert text.startswith("621x576 binning 2, 0.2 s: min ") and text.endswith(f"-> {target}\n")
    assert "100.0%" in capsys.readouterr().err
    expected = numpy.frombuffer(synthetic_frame(621, 576, 3, 1), "<u2").reshape(576, 621)
    with fabio.open(str(target)) as image:
        assert numpy.array_equal(image.data, expected)


def test_trace_shows_packets(sim: Simulator) -> None:
    code, text = run("trace", sim.hostname, "TEMP", "--seconds", "0.3")
    assert code == 0
    assert " > " in text and " < " in text and "Reply: -60." in text


def test_unreachable_host(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator(protocol=1, port=0) as gone:
        hostname = gone.hostname
    assert run("probe", hostname)[0] == EXIT_LINK
    assert capsys.readouterr().err.startswith(f"ccdpc: error: Cannot connect to {hostname}")


def test_wrong_version(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator(protocol=2, port=0, faults=["wrong-version"]) as wrong:
        assert run("probe", wrong.hostname)[0] == EXIT_LINK
    err = capsys.readouterr().err
    assert err.startswith("ccdpc: protocolerror: Unsupported protocol version 9.0")
    assert "CCDPC/9.0" in err


def test_silent_peer_times_out(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator(protocol=2, port=0, faults=["silent"]) as silent:
        assert run("--timeout", "0.3", "cmd", silent.hostname, "STATUS")[0] == EXIT_LINK
    assert capsys.readouterr().err == "ccdpc: timeout: select interrupted by timeout\n"


def test_bad_host_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("cmd", "pc:99999", "STATUS")[0] == EXIT_USAGE
    assert "Not a TCP port" in capsys.readouterr().err


def test_console_script_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ccdpc.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and "probe" in done.stdout and "acquire" in done.stdout


def test_acquire_series_to_one_nexus_file(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h5py = pytest.importorskip("h5py")
    target = tmp_path / "run" / "frame.h5"
    target.parent.mkdir()
    code, text = run("acquire", sim.hostname, "-s", "0", "-b", "2", "-n", "3", "-o", str(target))
    assert code == 0, capsys.readouterr().err
    assert text.startswith("3 frames, last 621x576 binning 2") and text.endswith(f"-> {target}\n")
    err = capsys.readouterr().err
    assert "3/3 done" in err and "3 transfer" in err and "0.72/0.72 MB" in err
    with h5py.File(target, "r") as f:
        data = f["entry/instrument/detector/data"]
        assert data.shape == (3, 576, 621)
        for i in range(3):  # the lent buffer was written before it was reused
            expected = numpy.frombuffer(synthetic_frame(621, 576, 3, i + 1), "<u2")
            assert numpy.array_equal(data[i], expected.reshape(576, 621)), i
    assert run("acquire", sim.hostname, "-s", "0", "-b", "2", "-o", str(target))[0] == EXIT_USAGE


def test_acquire_series_a_file_per_frame(sim: Simulator, tmp_path: Path) -> None:
    pattern = str(tmp_path / "f_{:04d}.npy")
    assert run("acquire", sim.hostname, "-s", "0", "-b", "2", "-n", "2", "-o", pattern)[0] == 0
    for i in range(2):
        expected = numpy.frombuffer(synthetic_frame(621, 576, 3, i + 1), "<u2")
        assert numpy.array_equal(numpy.load(pattern.format(i)).ravel(), expected)
    assert run("acquire", sim.hostname, "-n", "0", "-o", pattern)[0] == EXIT_USAGE
    assert run("acquire", sim.hostname, "-o", str(tmp_path / "x.tif"))[0] == EXIT_USAGE
