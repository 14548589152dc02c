"""Series and saving: what automatic HDF5 saving costs a series, the HDF5 writer against h5py
writing the same chunks directly, and the device server's memory during a long series.

- A series of binned frames (0 s exposures) through the device with SavingMode AUTO_FRAME and
  SavingFormat HDF5, against the same series with MANUAL saving, in alternating rounds: frames/s
  from Acquire until State leaves RUNNING (all files closed).
- `ccdpc.nexus.NexusWriter` (the device's writer: per-frame metadata, a flush per 8 frames as
  when the writer is behind, the disk space claimed per frame) against a bare h5py dataset (no
  metadata, one flush at the end): without a filter against `write_direct_chunk` of the frames'
  bytes, and with bitshuffle+LZ4 (the device's default) against h5py through the same filter.
  MB/s of frames written. On this machine's page cache the filter costs more than it saves; on
  a disk that is the limit, it halves what is written.
- The server process's RSS during a long AUTO_FRAME HDF5 series with BufferFrames 16, sampled
  while it runs, against its RSS before: the growth must stay under the buffer's frames + 20 MB.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tango  # type: ignore[import-untyped]
from tango import DevState

import ccdpc
from ccdpc.nexus import NexusWriter, compression
from tango_server import CCDPC
from tango_server.saving.buffer import BATCH
from tango_server.tools import testing

from .harness import Result, interleaved_samples
from .peers import simulators
from .servers import device_server, wait_for

__all__ = ["hdf5_writer", "run", "series_rss", "series_saving"]

W, H = 621, 576
BINNED_MB = W * H * 2 / 1e6
BUFFER = 16


@contextlib.contextmanager
def _device(folder: str) -> Iterator[tango.DeviceProxy]:
    with (
        simulators(3) as (hostname,),
        device_server(CCDPC, {"Host": hostname, "DataFolder": folder}) as dev,
    ):
        wait_for(lambda: dev.State() == DevState.ON, "the device ON")
        dev.Binning = 2
        dev.SavingFormat = "HDF5"
        dev.SavingOverwritePolicy = "OVERWRITE"
        dev.BufferFrames = BUFFER
        yield dev


def _series_rate(dev: tango.DeviceProxy, frames: int, mode: str) -> float:
    dev.SavingMode = mode
    dev.NbFrames = frames
    start = time.perf_counter()
    dev.Acquire(0)
    wait_for(lambda: dev.State() != DevState.RUNNING, "the series", timeout=600)
    took = time.perf_counter() - start
    if dev.LastImageAcquired != frames - 1 or dev.State() != DevState.ON:
        raise RuntimeError(f"the series failed: {dev.Status()}")
    return frames / took


def series_saving(frames: int, rounds: int) -> Result:
    """Frames/s of a series with AUTO_FRAME HDF5 saving against MANUAL (no saving)."""
    with tempfile.TemporaryDirectory() as folder, _device(folder) as dev:
        _series_rate(dev, 3, "AUTO_FRAME")  # warm-up: h5py imported in the server
        base, mine = interleaved_samples(
            lambda: _series_rate(dev, frames, "MANUAL"),
            lambda: _series_rate(dev, frames, "AUTO_FRAME"),
            rounds=rounds,
        )
    return Result.paired(
        f"{frames}-frame binned series, gen 3: AUTO_FRAME HDF5 saving vs no saving",
        "frames/s",
        base,
        mine,
        ">= 0.9x",
    )


def _frames(count: int) -> list[ccdpc.Frame]:
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(count):  # detector-like: a background with noise, compressible as real ones
        pixels = (rng.poisson(100, (H, W)) + 1000).astype("<u2")
        frames.append(ccdpc.Frame.from_buffer(bytearray(pixels.tobytes()), W, H, binning=2))
    return frames


def _project_write(frames: list[ccdpc.Frame], path: Path, compress: bool) -> float:
    path.unlink(missing_ok=True)  # a new file each round on both sides: no truncation timed
    start = time.perf_counter()
    with NexusWriter(path, overwrite=True, compress=compress) as writer:
        for index, frame in enumerate(frames, 1):
            writer.write(frame, -60.0)
            if index % BATCH == 0:  # as the device's writer thread does when it is behind
                writer.flush()
    return len(frames) * BINNED_MB / (time.perf_counter() - start)


def _bare_write(frames: list[ccdpc.Frame], path: Path, compress: bool) -> float:
    """h5py at its most direct: one dataset, no metadata, one flush at the end; the frames'
    bytes as chunks (`write_direct_chunk`), or through the same filter as the writer's."""
    import h5py  # type: ignore[import-untyped]  # noqa: PLC0415 - optional, like the writer's

    path.unlink(missing_ok=True)
    start = time.perf_counter()
    with h5py.File(path, "w") as f:
        filters = compression() if compress else {}
        data = f.create_dataset("data", (len(frames), H, W), "<u2", chunks=(1, H, W), **filters)
        for index, frame in enumerate(frames):
            if compress:
                data[index] = frame.pixels
            else:
                data.id.write_direct_chunk((index, 0, 0), frame.tobytes())
    return len(frames) * BINNED_MB / (time.perf_counter() - start)


def hdf5_writer(frames: int, rounds: int, compress: bool) -> Result:
    """MB/s of the device's HDF5 writer against bare h5py writing the same frames."""
    images = _frames(frames)
    with tempfile.TemporaryDirectory() as folder:
        base, mine = interleaved_samples(
            lambda: _bare_write(images, Path(folder) / "bare.h5", compress),
            lambda: _project_write(images, Path(folder) / "nexus.h5", compress),
            rounds=rounds,
        )
    how = (
        "bitshuffle+LZ4, vs h5py through the same filter"
        if compress
        else "no filter, vs h5py write_direct_chunk"
    )
    return Result.paired(
        f"HDF5 writer (NeXus, metadata, disk claimed per frame), {frames} binned frames, {how}",
        "MB/s",
        base,
        mine,
        ">= 0.8x",
    )


def series_rss(frames: int) -> Result:
    """The server's RSS growth (MB) during a long AUTO_FRAME HDF5 series."""
    with tempfile.TemporaryDirectory() as folder, _device(folder) as dev:
        server = testing.server_process(dev)
        _series_rate(dev, 3, "AUTO_FRAME")  # h5py and its buffers in place first
        before = server.memory_info().rss / 1e6
        dev.SavingMode = "AUTO_FRAME"
        dev.NbFrames = frames
        dev.Acquire(0)
        peak = before
        while dev.State() == DevState.RUNNING:
            peak = max(peak, server.memory_info().rss / 1e6)
            time.sleep(0.05)  # a sampling period, not a wait for an event
        if dev.LastImageSaved != frames - 1:
            raise RuntimeError(f"the series failed: {dev.Status()}")
    limit = BUFFER * BINNED_MB + 20
    return Result(
        f"server RSS during a {frames}-frame AUTO_FRAME HDF5 series, BufferFrames {BUFFER}",
        "MB",
        before,
        peak,
        f"growth < {limit:.1f}",
        higher_is_better=False,
    )


def run(quick: bool = False) -> list[Result]:
    return [
        series_saving(frames=5 if quick else 100, rounds=2 if quick else 5),
        hdf5_writer(frames=5 if quick else 100, rounds=2 if quick else 15, compress=False),
        hdf5_writer(frames=5 if quick else 100, rounds=2 if quick else 15, compress=True),
        series_rss(frames=10 if quick else 1000),
    ]
