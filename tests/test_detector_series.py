"""`Detector.series` against the simulator on every generation: frames in order, pixel-exact,
one lent buffer, the latency, bad arguments, and an exposure aborted when the caller fails."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import ccdpc
from ccdpc import Detector, DetectorState
from ccdpc.sim import Simulator, synthetic_frame


@pytest.fixture(params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def detector(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, Detector]]:
    with Simulator(protocol=request.param) as sim, ccdpc.CCDPC(sim.hostname) as pc:
        yield sim, Detector(pc)


def test_series_yields_every_frame_in_order(detector: tuple[Simulator, Detector]) -> None:
    sim, det = detector
    seen, buffers = [], set()
    start = time.monotonic()
    for frame in det.series(3, 0.0, 2, latency=0.1, lend=True):
        seen.append(frame.tobytes())
        buffers.add(frame.pixels.__array_interface__["data"][0])
    assert time.monotonic() - start >= 0.2  # two pauses
    assert len(buffers) == 1  # one lent buffer for all the frames
    assert seen == [synthetic_frame(621, 576, sim.detector.seed, n) for n in (1, 2, 3)]


def test_series_bad_arguments(detector: tuple[Simulator, Detector]) -> None:
    det = detector[1]
    for count, latency in ((0, 0.0), (1, -1.0), (1, float("nan"))):
        with pytest.raises(ValueError):
            next(det.series(count, 0.0, 1, latency))


def test_series_aborts_the_exposure_when_the_caller_fails(
    detector: tuple[Simulator, Detector],
) -> None:
    sim, det = detector

    def interrupt(status: ccdpc.DetectorStatus) -> None:
        if status.state is DetectorState.EXPOSING:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        next(det.series(2, 30.0, 2, on_status=interrupt))
    assert det.status().state is DetectorState.IDLE
    assert sim.detector.frames_taken == 0
