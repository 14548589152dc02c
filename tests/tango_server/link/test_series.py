"""The series engine over a real link to a simulator, without Tango: frames in order to the
sink, the wait for a full sink (a slow disk), the latency, abort, and the bad requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ccdpc
from ccdpc.sim import Simulator, synthetic_frame
from tango_server.link import Link
from tango_server.link.series import MAX_FRAMES, Series, SeriesRequest
from tango_server.link.settings import Settings
from tango_server.saving import SeriesBuffer

from ..conftest import wait_until


@pytest.fixture(params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def link(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, Link]]:
    with Simulator(protocol=request.param) as sim:
        link = Link(Settings(sim.host, sim.port, auto_connect=True))
        link.start()
        try:
            wait_until(lambda: link.wait_connected(0), 10, "connected")
            yield sim, link
        finally:
            link.shutdown()


class SlowDisk:
    """A writer that writes one frame each time it is let through."""

    def __init__(self) -> None:
        self.gate = threading.Semaphore(0)
        self.frames: list[ccdpc.Frame] = []

    def write(self, index: int, frame: ccdpc.Frame, temperature: float) -> None:
        assert self.gate.acquire(timeout=20)
        self.frames.append(frame)

    def flush(self) -> Path:
        return Path(f"/{len(self.frames)}")

    def close(self) -> None:
        """Nothing to close."""


def test_a_full_buffer_holds_the_next_exposure(link: tuple[Simulator, Link]) -> None:
    sim, lk = link
    disk = SlowDisk()
    buffer = SeriesBuffer(2, disk)
    first = sim.detector.frames_taken
    series = Series(lk, SeriesRequest(5, 0.0, 2), done=buffer.finish)
    series.begin()
    series.start(buffer)
    wait_until(lambda: "waiting for the writer, buffer full" in series.activity, 10, "held")
    assert sim.detector.frames_taken == first + 2  # no third exposure while the buffer is full
    assert lk.snapshot().detector.frame_number == 2
    for _ in range(5):
        disk.gate.release()
    assert series.join(20)
    assert series.error is None and buffer.saved == 4 and series.activity == ""
    for i, got in enumerate(disk.frames):  # every frame once, in order
        expected = synthetic_frame(621, 576, sim.detector.seed, first + 1 + i)
        assert got.tobytes() == expected, i


def test_latency_and_abort(link: tuple[Simulator, Link]) -> None:
    lk = link[1]
    buffer = SeriesBuffer(4, None)
    series = Series(lk, SeriesRequest(1000, 0.0, 2, latency=0.2))
    start = time.monotonic()
    series.begin()
    series.start(buffer)
    wait_until(lambda: buffer.acquired >= 2, 10, "three frames")
    assert time.monotonic() - start >= 0.4  # two latencies at least
    wait_until(lambda: "latency" in series.activity, 5, "a latency")
    series.abort()
    assert series.join(5)
    assert series.error is None and buffer.acquired < 10
    assert np.array_equal(buffer.image(buffer.acquired).pixels, lk.frame().pixels)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "frames, latency", [(0, 0.0), (-1, 0.0), (MAX_FRAMES + 1, 0.0), (1, -0.1), (1, float("nan"))]
)
def test_bad_requests(frames: int, latency: float) -> None:
    with pytest.raises(ValueError):
        SeriesRequest(frames, 0.0, 1, latency)


def test_closing_from_the_last_frame_counted_to_the_end(link: tuple[Simulator, Link]) -> None:
    """`closing` (what the device's Acquire waits for) holds from the moment the link counts the
    last frame until the series ends, and not before: here the disk holds each step."""
    lk = link[1]
    disk = SlowDisk()
    buffer = SeriesBuffer(1, disk)
    first = lk.snapshot().detector.frame_number
    series = Series(lk, SeriesRequest(2, 0.0, 2), done=buffer.finish)
    assert not series.closing  # not begun
    series.begin()
    series.start(buffer)
    wait_until(lambda: "buffer full" in series.activity, 10, "the first frame held")
    assert lk.snapshot().detector.frame_number == first + 1 and not series.closing
    disk.gate.release()  # the first frame written: room for the second
    wait_until(lambda: lk.snapshot().detector.frame_number == first + 2, 10, "the last frame")
    assert series.closing and series.running  # its writing holds the end back
    assert not series.join(0.1)
    disk.gate.release()
    assert series.join(20) and series.closing and len(disk.frames) == 2
