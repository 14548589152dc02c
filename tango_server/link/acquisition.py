"""The detector layer of the link: exposures, readouts and frames, from replies and events.

Plain state, no threads, no sockets, no tango. Callers ask for an `Operation` (`request`, `abort`);
the worker asks which command to send next (`next_command`: EXPOSE, READ, ABORT, or STATUS while
the detector is busy), and feeds back every reply it routes (`on_reply`), every event
(`on_event`), the data of its READ (`on_data`) and its failures (`failed`). The link holds its lock
around every call. The reply texts and events are those of docs/protocol.md, section 7.

Progress, the honest and simple way: each phase of an operation is an equal share (Acquire:
exposure, readout, transfer, a third each; Expose: halves; ReadFrame: the transfer alone). The
exposure and the readout advance with the PC's own STATUS figures (seconds, rows), the transfer
with the bytes the driver has received (`on_transfer`, from its progress hook).
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass

import ccdpc
from ccdpc import DetectorState, DetectorStatus
from ccdpc.image import FULL_WIDTH

from .state import DetectorView

__all__ = ["STATUS_PERIOD", "Acquisition", "Kind", "Operation", "Phase"]

#: Seconds between two STATUS polls while the detector is busy: Progress moves at 10 Hz.
STATUS_PERIOD = 0.1

_FRAME_REPLY = re.compile(r"FRAME ([0-9]{1,6}) ([0-9]{1,6})")


class Kind(enum.Enum):
    """What a caller asked for, named as the device's command."""

    EXPOSE = "Expose"
    READ = "ReadFrame"
    ACQUIRE = "Acquire"


class Phase(enum.IntEnum):
    """Where an operation is: the PC exposes, then reads out, then the frame is transferred."""

    STARTING = 0
    EXPOSING = 1
    READING_OUT = 2
    TRANSFERRING = 3
    DONE = 4


_PHASES = {
    Kind.EXPOSE: (Phase.EXPOSING, Phase.READING_OUT),
    Kind.ACQUIRE: (Phase.EXPOSING, Phase.READING_OUT, Phase.TRANSFERRING),
    Kind.READ: (Phase.TRANSFERRING,),
}


@dataclass
class Operation:
    """One Expose, ReadFrame or Acquire. `sent`: the command of the current phase (EXPOSE, READ)
    is on the wire; `answered`: the PC answered the first one (the caller waits for that)."""

    kind: Kind
    seconds: float
    binning: int
    phase: Phase
    sent: bool = False
    answered: bool = False
    fraction: float = 0.0
    size: tuple[int, int] | None = None
    receiving: bool = False
    received: int = 0  # bytes of the frame so far, while `receiving`
    aborted: bool = False
    error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.phase is Phase.DONE or self.aborted or self.error is not None

    @property
    def name(self) -> str:
        if self.kind is Kind.READ:
            return str(self.kind.value)
        return f"{self.kind.value} {self.seconds:g} s, binning {self.binning}"


class Acquisition:
    """The detector's state, the operation under way, and the last frame (see the module doc)."""

    def __init__(self) -> None:
        self.state: DetectorState | None = None
        self.details = ""
        self.operation: Operation | None = None
        self.frame: ccdpc.Frame | None = None
        self.frame_number = 0
        #: What the worker should log: (level, text), taken by the worker after each call.
        self.notices: list[tuple[int, str]] = []
        #: ABORTs answered so far, and the failure of the last one (None: it went through).
        self.aborts_answered = 0
        self.abort_error: BaseException | None = None
        self.abort_wanted = False
        self._status_due = 0.0

    # -- what callers ask -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """An operation is under way."""
        return self.operation is not None and not self.operation.finished

    def request(self, kind: Kind, seconds: float = 0.0, binning: int = 1) -> Operation:
        """A new operation; one already running makes this a busy `ccdpc.CommandError`."""
        if self.running:
            assert self.operation is not None
            raise ccdpc.CommandError(
                f"{self.operation.name} is under way: wait for it or Abort", busy=True
            )
        first = Phase.TRANSFERRING if kind is Kind.READ else Phase.STARTING
        self.operation = Operation(kind, seconds, binning, first)
        return self.operation

    def withdraw(self, operation: Operation) -> None:
        """Forget an operation whose command never went out (its caller gave up)."""
        if self.operation is operation and not operation.sent:
            self.operation = None

    def request_abort(self) -> bool:
        """Abort what runs; True if an ABORT must go to the PC (and `abort_wanted` is set).

        A transfer under way cannot be stopped without breaking the link: its frame is dropped
        when it has arrived. Before the EXPOSE or READ went out, withdrawing is enough.
        """
        op = self.operation
        if op is not None and not op.finished:
            op.aborted = True
            if op.phase is Phase.TRANSFERRING or (op.phase is Phase.STARTING and not op.sent):
                return False
        self.abort_wanted = True
        return True

    def view(self) -> DetectorView:
        """What the attributes show."""
        frame = self.frame
        return DetectorView(
            state=self.state,
            activity=self._activity(),
            progress=self._progress(),
            frame_number=self.frame_number,
            width=frame.width if frame is not None else 0,
            height=frame.height if frame is not None else 0,
        )

    # -- what the worker asks and tells ---------------------------------------------------------

    def next_command(self, now: float) -> str | None:
        """The command the worker should send now (it sends one at a time), or None."""
        op = self.operation
        if self.abort_wanted:
            return "ABORT"
        if op is not None and not op.finished and not op.sent:
            if op.phase is Phase.STARTING:
                op.sent = True
                return f"EXPOSE {op.seconds:.3f} {op.binning}"
            if op.phase is Phase.TRANSFERRING:
                op.sent = True
                return "READ"
        due = self.status_due()
        if due is not None and now >= due:
            self._status_due = now + STATUS_PERIOD
            return "STATUS"
        return None

    def status_due(self) -> float | None:
        """When `next_command` asks STATUS next (`time.monotonic()`): every `STATUS_PERIOD` while
        the detector is busy; None while it is idle or unknown."""
        busy = self.state in (DetectorState.EXPOSING, DetectorState.READING)
        return self._status_due if busy else None

    def sent_abort(self) -> None:
        """The ABORT asked for is on its way."""
        self.abort_wanted = False

    def on_reply(self, command: str, reply: ccdpc.Reply, own: bool) -> None:
        """A reply to `command` (upper case); `own`: the worker sent it for this object."""
        word = command.split(maxsplit=1)[0] if command.split() else ""
        if word == "STATUS" and reply.ok:
            self._on_status(reply.text)
        elif word == "EXPOSE" and reply.ok:
            self.state = DetectorState.EXPOSING
        elif word == "ABORT" and reply.ok:
            self.state = DetectorState.IDLE
            op = self.operation
            if op is not None and not op.finished and op.phase is not Phase.TRANSFERRING:
                op.aborted = True  # also an ABORT a user typed: the exposure is over
        if not own:
            return
        if word == "ABORT":
            self.aborts_answered += 1
            self.abort_error = None if reply.ok else _refusal(reply)
        elif word in ("EXPOSE", "READ"):
            self._answered(word, reply)

    def on_data(self, data: ccdpc.Data) -> None:
        """The data of the worker's READ: the frame (dropped if the operation was aborted)."""
        op = self.operation
        if op is None or op.phase is not Phase.TRANSFERRING or op.size is None:
            return
        op.receiving = False
        if op.aborted:
            self.notices.append((logging.INFO, f"{op.name}: aborted, frame dropped"))
            return
        width, height = op.size
        binning = FULL_WIDTH // width if width and FULL_WIDTH % width == 0 else 1
        try:
            frame = ccdpc.Frame.from_buffer(
                data.payload, width, height, binning=binning, exposure=op.seconds
            )
        except ValueError as exc:
            self._fail(op, ccdpc.protocolerror(f"READ answered FRAME {width} {height}: {exc}"))
            return
        self.frame, self.frame_number, op.phase = frame, self.frame_number + 1, Phase.DONE

    def on_transfer(self, received: int, total: int) -> None:
        """`received` of the `total` bytes of a frame have arrived (the worker's READ's, if it
        is receiving one)."""
        op = self.operation
        if op is not None and op.receiving and not op.finished and total:
            op.received, op.fraction = received, min(received / total, 1.0)

    def on_event(self, text: str) -> None:
        """An event of generation 2 or 3; ``STATE <state>`` ones matter here."""
        word, _, rest = text.partition(" ")
        if word == "STATE" and rest in DetectorState.__members__:
            self.details = ""  # those of the last STATUS belong to the state before
            self._enter(DetectorState[rest])

    def failed(self, command: str, error: BaseException) -> None:
        """The worker's `command` got no answer: the send failed or the link was lost."""
        word = command.split(maxsplit=1)[0] if command.split() else ""
        if word == "ABORT":
            self.aborts_answered += 1
            self.abort_error = error
        op = self.operation
        if word in ("EXPOSE", "READ") and op is not None:
            op.receiving = False
            if not op.finished:
                self._fail(op, error)

    def link_lost(self, why: BaseException) -> None:
        """The connection is gone for good: what ran fails, and the detector is unknown."""
        op = self.operation
        if op is not None:
            op.receiving = False
            if not op.finished:
                self._fail(op, why)
        self.state, self.details = None, ""
        self.abort_wanted = False

    # -- inside ---------------------------------------------------------------------------------

    def _answered(self, word: str, reply: ccdpc.Reply) -> None:
        op = self.operation
        if op is None:
            return
        op.answered = True
        if op.finished:
            return
        if not reply.ok:
            op.error = _refusal(reply)
        elif word == "EXPOSE" and op.phase is Phase.STARTING:
            self._next_phase(op, Phase.EXPOSING)
        elif word == "READ" and (match := _FRAME_REPLY.fullmatch(reply.text)):
            op.size, op.receiving = (int(match[1]), int(match[2])), True
        elif word == "READ":
            self._fail(op, ccdpc.protocolerror(f"READ answered {reply.text!r}"))

    def _on_status(self, text: str) -> None:
        try:
            status = DetectorStatus.parse(text)
        except ccdpc.protocolerror:
            return  # not a state: leave what events said
        self.details = status.details
        self._enter(status.state)
        op = self.operation
        if op is not None and op.phase in (Phase.EXPOSING, Phase.READING_OUT):
            op.fraction = status.progress or 0.0

    def _enter(self, state: DetectorState) -> None:
        self.state = state
        op = self.operation
        if op is None or op.finished or op.phase not in (Phase.EXPOSING, Phase.READING_OUT):
            return
        if state is DetectorState.READING and op.phase is Phase.EXPOSING:
            self._next_phase(op, Phase.READING_OUT)
        elif state is DetectorState.ERROR:
            self._fail(op, ccdpc.CommandError(f"detector error: {self.details}"))
        elif state is DetectorState.IDLE:
            # Only ABORT ends an exposure without a frame, and every ABORT's reply passes here
            # (the PC serves one client): IDLE now means the frame is there.
            self._next_phase(op, Phase.TRANSFERRING if op.kind is Kind.ACQUIRE else Phase.DONE)

    @staticmethod
    def _next_phase(op: Operation, phase: Phase) -> None:
        op.phase, op.sent, op.fraction = phase, False, 0.0

    def _fail(self, op: Operation, error: BaseException) -> None:
        op.error, op.receiving = error, False
        self.notices.append((logging.ERROR, f"{op.name} failed: {error}"))

    def _progress(self) -> float:
        op = self.operation
        if op is None or op.aborted or op.error is not None:
            return 0.0
        if op.phase is Phase.DONE:
            return 100.0
        phases = _PHASES[op.kind]
        index = phases.index(Phase.EXPOSING if op.phase is Phase.STARTING else op.phase)
        return 100.0 * (index + op.fraction) / len(phases)

    def _activity(self) -> str:
        op = self.operation
        if op is None:
            return ""
        if op.aborted and op.receiving:
            return f"{op.name} aborted: dropping the frame still arriving"
        if op.finished:
            return ""
        if op.phase is Phase.STARTING:
            return f"{op.name}: starting the exposure"
        if op.phase is Phase.EXPOSING:
            return f"{op.name}: exposing {op.fraction * op.seconds:.1f} of {op.seconds:.1f} s"
        if op.phase is Phase.READING_OUT:
            rows = self.details if self.state is DetectorState.READING else ""
            return f"{op.name}: reading out" + (f", {rows}" if rows else "")
        if op.size is None:
            return f"{op.name}: asking for the frame"
        width, height = op.size
        size = width * height * 2 / 1e6
        if op.received:
            return f"{op.name}: reading {op.received / 1e6:.1f} of {size:.2f} MB"
        return f"{op.name}: transferring the frame, {width} x {height} pixels, {size:.2f} MB"


def _refusal(reply: ccdpc.Reply) -> ccdpc.CommandError:
    return ccdpc.CommandError(reply.text, busy=reply.status is ccdpc.Status.BUSY)
