"""The detector layer's state machine, fed replies and events by hand. No sockets, no threads."""

from __future__ import annotations

import pytest

import ccdpc
from ccdpc import Data, DetectorState, Reply, Status
from ccdpc.sim import synthetic_frame
from tango_server.link.acquisition import STATUS_PERIOD, Acquisition, Kind, Phase

NOW = 100.0


def answer(acq: Acquisition, command: str, text: str, status: Status = Status.OK) -> None:
    """The reply to the worker's own `command`."""
    acq.on_reply(command, Reply(text, status), own=True)


def started(kind: Kind, seconds: float = 1.0, binning: int = 1) -> Acquisition:
    """An acquisition whose EXPOSE the PC has accepted."""
    acq = Acquisition()
    acq.request(kind, seconds, binning)
    assert acq.next_command(NOW) == f"EXPOSE {seconds:.3f} {binning}"
    answer(acq, "EXPOSE", f"EXPOSING {seconds:.3f} {binning}")
    return acq


def test_acquire_goes_through_its_phases_by_status_polls() -> None:
    acq = started(Kind.ACQUIRE, 2.0)
    assert acq.state is DetectorState.EXPOSING
    assert acq.next_command(NOW) == "STATUS"
    assert acq.next_command(NOW) is None  # one poll per period
    answer(acq, "STATUS", "EXPOSING 1.000/2.000 s")
    view = acq.view()
    assert view.activity == "Acquire 2 s, binning 1: exposing 1.0 of 2.0 s"
    assert view.progress == pytest.approx(100 / 6)
    assert acq.next_command(NOW + STATUS_PERIOD) == "STATUS"
    answer(acq, "STATUS", "READING 576/1152 rows")
    assert acq.view().activity == "Acquire 2 s, binning 1: reading out, 576/1152 rows"
    assert acq.view().progress == pytest.approx(50)
    answer(acq, "STATUS", "IDLE frames=1")
    assert acq.next_command(NOW) == "READ"
    answer(acq, "READ", "FRAME 2 1")
    assert acq.view().activity.endswith("transferring the frame, 2 x 1 pixels, 0.00 MB")
    acq.on_transfer(3, 4)  # the driver's progress hook: bytes so far, of the total
    assert acq.view().activity.endswith("reading 0.0 of 0.00 MB")
    assert acq.view().progress == pytest.approx(100 * (2 + 3 / 4) / 3)
    acq.on_data(Data(bytearray(b"\x01\x00\x02\x01")))
    view = acq.view()
    assert (view.frame_number, view.width, view.height, view.progress) == (1, 2, 1, 100.0)
    assert view.activity == ""
    assert acq.frame is not None
    assert acq.frame.pixels.tolist() == [[1, 258]]
    assert not acq.running


def test_events_move_the_phases_without_polls() -> None:
    acq = started(Kind.EXPOSE, 0.0)
    for text in ("STATE EXPOSING", "STATE READING", "FRAME 7 621 576", "STATE IDLE"):
        acq.on_event(text)
    assert acq.operation is not None
    assert acq.operation.phase is Phase.DONE
    assert acq.state is DetectorState.IDLE
    assert acq.view().progress == 100.0
    assert acq.next_command(NOW) is None  # an Expose does not read


def test_full_frame_is_a_view_of_the_buffer() -> None:
    acq = Acquisition()
    acq.request(Kind.READ)
    assert acq.next_command(NOW) == "READ"
    answer(acq, "READ", "FRAME 1242 1152")
    payload = bytearray(synthetic_frame(1242, 1152, 3, 1))
    acq.on_data(Data(payload))
    assert acq.frame is not None
    assert acq.frame.pixels.base is not None  # no copy: numpy over the receive buffer
    assert acq.frame.pixels.shape == (1152, 1242)
    assert acq.frame.binning == 1


def test_a_refused_expose_fails_the_operation() -> None:
    acq = Acquisition()
    op = acq.request(Kind.ACQUIRE, 1.0)
    acq.next_command(NOW)
    answer(acq, "EXPOSE", "exposing", Status.BUSY)
    assert op.answered
    assert isinstance(op.error, ccdpc.CommandError)
    assert op.error.busy
    assert not acq.running


def test_one_operation_at_a_time() -> None:
    acq = started(Kind.ACQUIRE)
    with pytest.raises(ccdpc.CommandError, match="under way") as exc:
        acq.request(Kind.READ)
    assert exc.value.busy


def test_abort_during_exposure_sends_abort() -> None:
    acq = started(Kind.ACQUIRE, 60.0)
    assert acq.request_abort()
    assert acq.next_command(NOW) == "ABORT"
    acq.sent_abort()
    answer(acq, "ABORT", "ABORTED")
    assert (acq.state, acq.aborts_answered, acq.abort_error) == (DetectorState.IDLE, 1, None)
    assert not acq.running
    assert acq.view().progress == 0.0


def test_abort_during_transfer_drops_the_frame() -> None:
    acq = Acquisition()
    acq.request(Kind.READ)
    acq.next_command(NOW)
    answer(acq, "READ", "FRAME 2 1")
    assert not acq.request_abort()  # nothing for the PC to stop
    assert acq.view().activity == "ReadFrame aborted: dropping the frame still arriving"
    acq.on_data(Data(bytearray(4)))
    assert (acq.frame, acq.frame_number, acq.view().activity) == (None, 0, "")


def test_a_user_abort_ends_the_exposure_without_a_frame() -> None:
    acq = started(Kind.ACQUIRE, 5.0)
    acq.on_reply("ABORT", Reply("ABORTED"), own=False)  # typed by a user through Command
    assert acq.operation is not None
    assert acq.operation.aborted
    answer(acq, "STATUS", "IDLE frames=4")
    assert acq.next_command(NOW) is None  # no READ: there is no new frame


def test_detector_error_fails_the_operation() -> None:
    acq = started(Kind.ACQUIRE)
    answer(acq, "STATUS", "ERROR cooling lost")
    assert acq.state is DetectorState.ERROR
    assert acq.operation is not None
    assert str(acq.operation.error) == "detector error: cooling lost"
    assert "failed: detector error" in acq.notices[-1][1]


def test_wrong_frame_size_is_a_protocol_error() -> None:
    acq = Acquisition()
    acq.request(Kind.READ)
    acq.next_command(NOW)
    answer(acq, "READ", "FRAME 4 4")
    acq.on_data(Data(bytearray(6)))
    assert acq.operation is not None
    assert isinstance(acq.operation.error, ccdpc.protocolerror)


def test_abort_then_loss_during_transfer_shows_nothing_under_way() -> None:
    acq = Acquisition()
    acq.request(Kind.READ)
    acq.next_command(NOW)
    answer(acq, "READ", "FRAME 2 1")
    acq.request_abort()
    acq.failed("READ", ConnectionError("gone"))
    assert acq.view().activity == ""


def test_state_events_do_not_keep_old_status_details() -> None:
    acq = started(Kind.ACQUIRE, 2.0)
    answer(acq, "STATUS", "EXPOSING 1.000/2.000 s")
    acq.on_event("STATE READING")
    assert acq.view().activity == "Acquire 2 s, binning 1: reading out"


def test_link_lost_forgets_the_detector() -> None:
    acq = started(Kind.ACQUIRE)
    acq.link_lost(ConnectionError("gone"))
    assert acq.state is None
    assert acq.operation is not None
    assert str(acq.operation.error) == "gone"


def test_withdraw_only_what_was_not_sent() -> None:
    acq = Acquisition()
    op = acq.request(Kind.EXPOSE, 1.0)
    acq.withdraw(op)
    assert acq.operation is None
    op = acq.request(Kind.EXPOSE, 1.0)
    acq.next_command(NOW)
    acq.withdraw(op)
    assert acq.operation is op
