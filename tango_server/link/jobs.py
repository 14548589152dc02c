"""Work handed to the link's worker thread, and a deadline-bound wait for its outcome.

A job still queued when its caller's deadline passes is withdrawn: the caller learns that nothing
was done (`LinkBusy`). A job already started runs to its end; the caller learns that it is still
under way (`WaitTimeout`) and finds its outcome later in the link's state.

The queue also rings the worker's bell: the worker waits in `select` on the wire and on the bell at
once, so a job (or anything else a caller asks) is taken up at once, and an idle worker costs no
CPU.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .state import LinkBusy, WaitTimeout

__all__ = ["Job", "JobQueue"]

T = TypeVar("T")


class Job(Generic[T]):
    """One piece of work: `run()` in the worker; `started` and `done` change under the lock."""

    def __init__(self, name: str, run: Callable[[], T]) -> None:
        self.name = name
        self.run = run
        self.started = self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class JobQueue:
    """The jobs of one worker, guarded by the owner's condition (held by the caller of `put`,
    `take` and `wake`; `execute` and `wait` take it themselves).

    Its `fileno()` is the bell's: readable when the worker was woken. The worker `close`s it when
    it ends.
    """

    def __init__(self, cv: threading.Condition) -> None:
        self._cv = cv
        self._jobs: deque[Job[Any]] = deque()
        # A socket pair, not a pipe: `select` takes sockets on every platform.
        self._bell, self._ringer = socket.socketpair()
        self._bell.setblocking(False)
        self._ringer.setblocking(False)

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def fileno(self) -> int:
        """The bell, for the worker's `select` beside the wire."""
        return self._bell.fileno()

    def put(self, job: Job[Any], first: bool = False) -> None:
        """Queue a job (`first`: before the others) and wake the worker."""
        if first:
            self._jobs.appendleft(job)
        else:
            self._jobs.append(job)
        self.wake()

    def wake(self) -> None:
        """Wake the worker, whether it waits on the condition or in `select`."""
        self._cv.notify_all()
        # Full: the worker has a wake-up waiting already. Closed: the worker has ended.
        with contextlib.suppress(OSError):
            self._ringer.send(b"\0")

    def woken(self) -> None:
        """In the worker, woken: silence the bell before looking at what there is to do, so that
        a wake-up coming after the look rings again."""
        with contextlib.suppress(OSError):
            self._bell.recv(4096)

    def close(self) -> None:
        """Close the bell (when the worker ends): no descriptor outlives the link."""
        self._bell.close()
        self._ringer.close()

    def take(self) -> Job[Any]:
        """The next job, marked started."""
        job = self._jobs.popleft()
        job.started = True
        return job

    def execute(self, job: Job[Any]) -> None:
        """Run `job` (in the worker) and publish its outcome to whoever waits."""
        try:
            result, error = job.run(), None
        except Exception as exc:
            result, error = None, exc
        with self._cv:
            job.result, job.error, job.done = result, error, True
            self._cv.notify_all()

    def wait(self, job: Job[T], timeout: float, busy: Callable[[], str]) -> T | None:
        """`job`'s result, or its exception, within `timeout` seconds.

        Not started by then: withdrawn, `LinkBusy` (with `busy()`, what the worker is doing).
        Started: `WaitTimeout`, and it carries on.
        """
        with self._cv:
            if not self._cv.wait_for(lambda: job.done, max(timeout, 0.0)):
                if not job.started:
                    self._jobs.remove(job)
                    raise LinkBusy(
                        f"The link is busy ({busy()}): "
                        f"{job.name} withdrawn after {timeout:g} s, nothing sent"
                    )
                raise WaitTimeout(f"{job.name} still under way after {timeout:g} s")
        if job.error is not None:
            raise job.error
        return job.result
