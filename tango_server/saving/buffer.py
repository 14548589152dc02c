"""The frames of a series between the detector and the disk: a bounded buffer and a writer thread.

`SeriesBuffer.put` hands a frame over; the writer thread writes the frames in order with a
`FrameWriter` (none: MANUAL saving, frames are only kept), and flushes after each frame, or after
up to `BATCH` frames when it is behind; a frame counts as saved once flushed. The buffer holds at
most `capacity` frames; a frame leaves it only once written (or at once, without a writer), so a
slow disk never loses one: `wait_room` makes the next exposure wait instead. The frames still in
the buffer are what `image(n)` returns (live view, value references). When a write fails, the
writer stops: the error is kept (`error`), `saved` stays the last frame fully on disk, and the
frames not written stay readable. `finish` writes what is left and closes the file. Thread-safe; no
tango import.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

import ccdpc

from .writers import FrameWriter

__all__ = ["DEFAULT_CAPACITY", "SeriesBuffer"]

#: Frames held for the writer unless the device says otherwise (BufferFrames).
DEFAULT_CAPACITY = 16
#: The most frames written between two flushes, when the writer is behind: a flush per frame
#: costs HDF5 a metadata write each; LastImageSaved moves at each flush.
BATCH = 8


class SeriesBuffer:
    """One series' frames on their way to disk (see the module doc)."""

    def __init__(
        self,
        capacity: int,
        writer: FrameWriter | None,
        listener: Callable[[], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"BufferFrames {capacity}: must be >= 1")
        self.capacity = capacity
        self._writer = writer
        self._listener = listener or (lambda: None)
        self._cv = threading.Condition()
        self._frames: collections.OrderedDict[int, tuple[ccdpc.Frame, float]] = (
            collections.OrderedDict()
        )
        self._acquired = -1
        self._saved = -1
        self._last_file: Path | None = None
        self._ending = False
        self._closed = writer is None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if writer is not None:
            self._thread = threading.Thread(target=self._run, name="ccdpc-writer", daemon=True)
            self._thread.start()

    # -- the acquiring side --------------------------------------------------------------------

    @property
    def acquired(self) -> int:
        """Index of the last frame handed over (-1: none)."""
        with self._cv:
            return self._acquired

    @property
    def saved(self) -> int:
        """Index of the last frame fully on disk (-1: none, and always -1 without a writer)."""
        with self._cv:
            return self._saved

    @property
    def last_file(self) -> Path | None:
        """The last file complete on disk."""
        with self._cv:
            return self._last_file

    def full(self) -> bool:
        """No room for one more frame: `capacity` frames wait for the writer."""
        with self._cv:
            return self._full()

    def _full(self) -> bool:
        return self._writer is not None and self._acquired - self._saved >= self.capacity

    def wait_room(self, timeout: float) -> bool:
        """Wait until a frame can be put, or the writer failed; False if still full."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._full() or self.error is not None, timeout)

    def put(self, index: int, frame: ccdpc.Frame, temperature: float = float("nan")) -> None:
        """Hand over frame `index` (the next one); it must fit (`wait_room`)."""
        with self._cv:
            if index != self._acquired + 1:
                raise ValueError(f"Frame {index} out of order: {self._acquired + 1} expected")
            if self._full():
                raise RuntimeError("The series buffer is full: wait_room first")
            self._frames[index] = (frame, temperature)
            self._acquired = index
            self._evict()
            self._cv.notify_all()
        self._listener()

    def _evict(self) -> None:
        """Under the lock: drop the oldest frames beyond capacity that are on disk (or that no
        writer will save)."""
        while len(self._frames) > self.capacity:
            oldest = next(iter(self._frames))
            if self._writer is not None and oldest > self._saved:
                return
            del self._frames[oldest]

    def image(self, index: int) -> ccdpc.Frame:
        """Frame `index` of the series, if still in the buffer; `LookupError` saying why not."""
        with self._cv:
            held = self._frames.get(index)
            if held is not None:
                return held[0]
            if index < 0 or index > self._acquired:
                raise LookupError(
                    f"No frame {index} in this series: frames 0 to {self._acquired} were taken"
                )
            first = next(iter(self._frames), self._acquired + 1)
            raise LookupError(
                f"Frame {index} has left the buffer (it holds frames {first} to "
                f"{self._acquired}, BufferFrames {self.capacity}); read it from its file"
            )

    def finish(self, timeout: float | None = None) -> bool:
        """No more frames: the writer writes what is left and closes; True once it has.

        Returns False if it is still at work after `timeout` seconds (it carries on)."""
        with self._cv:
            self._ending = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cv:
            return self._closed

    @property
    def closed(self) -> bool:
        """The writer has finished (or there is none)."""
        with self._cv:
            return self._closed

    # -- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._writer is not None
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._saved < self._acquired or self._ending)
                if self._saved >= self._acquired:
                    break
                first = self._saved + 1
                last = min(self._acquired, self._saved + BATCH)
                batch = [(i, *self._frames[i]) for i in range(first, last + 1)]
            done = first - 1
            try:
                for index, frame, temperature in batch:
                    self._writer.write(index, frame, temperature)
                    done = index
                self._saved_up_to(last, self._writer.flush())
            except Exception as exc:  # a full disk, a folder gone: stop, and say it
                if done >= first:  # the frames written before it may still be completed
                    with contextlib.suppress(Exception):
                        self._saved_up_to(done, self._writer.flush())
                self._stop(exc)
                return
        self._stop(None)

    def _saved_up_to(self, index: int, written: Path) -> None:
        with self._cv:
            self._saved, self._last_file = index, written
            self._evict()
            self._cv.notify_all()
        self._listener()

    def _stop(self, error: BaseException | None) -> None:
        assert self._writer is not None
        try:
            self._writer.close()
        except Exception as exc:
            error = error or exc
        with self._cv:
            if error is not None and self.error is None:
                self.error = error
            self._closed = True
            self._cv.notify_all()
        self._listener()
