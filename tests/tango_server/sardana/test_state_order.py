"""StateOne and the order in which Tango reads attributes.

In one `read_attributes` call Tango reads State and Status after every other attribute, whatever
order they were asked in (the first test shows it on a real device). A frame that lands between
two reads of StateOne must never look like an acquisition that ended without its frame: that
was a Fault in a scan now and then (FrameNumber read just before it moved, State just after the
device left RUNNING). The controller is driven here without a Pool, against a stand-in of the
device that reads in Tango's order and lets the frame land after any one of the reads; the
Pool tests (test_controller.py) run it for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sardana import State  # type: ignore[import-untyped]
from tango import DevState
from tango.server import Device, attribute  # type: ignore[import-untyped]
from tango.test_context import DeviceTestContext  # type: ignore[import-untyped]

from tango_server.sardana import CCDPCTwoDCtrl

_STATUS_ATTRS = ("State", "Status")


class Recorder(Device):  # type: ignore[misc]
    """Says in which order its attribute, State and Status were read."""

    order: list[str] = []  # noqa: RUF012 - the device's own record, in its process

    def init_device(self) -> None:
        super().init_device()
        self.set_state(DevState.ON)

    @attribute(dtype=str)  # type: ignore[untyped-decorator]
    def Order(self) -> str:  # noqa: N802 - a Tango attribute
        order = ",".join(Recorder.order)
        Recorder.order.clear()
        return order

    @attribute(dtype=int)  # type: ignore[untyped-decorator]
    def FrameNumber(self) -> int:  # noqa: N802 - a Tango attribute
        Recorder.order.append("FrameNumber")
        return 1

    def dev_state(self) -> Any:
        Recorder.order.append("State")
        return DevState.ON

    def dev_status(self) -> str:
        Recorder.order.append("Status")
        return "ON"


def test_tango_reads_state_and_status_after_the_other_attributes() -> None:
    with DeviceTestContext(Recorder, process=True) as dev:
        dev.read_attribute("Order")  # what start-up read
        dev.read_attributes(["State", "Status", "FrameNumber"])
        assert dev.read_attribute("Order").value == "FrameNumber,State,Status"


class Value:
    def __init__(self, value: object) -> None:
        self.value = value


class Detector:
    """A stand-in of the CCDPC device for the controller: attributes read in Tango's order, and
    after read number `land_after` (counting from the first), the frame lands and the device
    leaves RUNNING, at once, as the device does it."""

    def __init__(self) -> None:
        self.frame_number = 41
        self.running = False
        self.reads = 0
        self.land_after = 0  # 0: the frame never lands

    def read_attributes(self, names: list[str]) -> list[Value]:
        order = [n for n in names if n not in _STATUS_ATTRS] + [
            n for n in _STATUS_ATTRS if n in names
        ]
        values: dict[str, object] = {}
        for name in order:
            values[name] = self._read(name)
            self.reads += 1
            if self.reads == self.land_after:
                self.frame_number, self.running = self.frame_number + 1, False
        return [Value(values[name]) for name in names]

    def _read(self, name: str) -> object:
        state = DevState.RUNNING if self.running else DevState.ON
        return {
            "State": state,
            "Status": f"The device is in {state} state.",
            "FrameNumber": self.frame_number,
            "Errors": 0,
            "LastError": "",
            "Binning": 2,
        }[name]

    def get_attribute_list(self) -> list[str]:
        return ["State", "Status", "FrameNumber", "Errors", "LastError", "Binning"]  # no series

    def Acquire(self, seconds: float) -> None:  # noqa: N802 - the device's command
        self.running = True


@pytest.fixture
def controller(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Detector]]:
    detector = Detector()
    monkeypatch.setattr(CCDPCTwoDCtrl.tango, "DeviceProxy", lambda name: detector)
    props = {"DeviceName": "test/ccdpc/1", "Timeout": 30.0, "LatencyTime": 0.5}
    yield CCDPCTwoDCtrl.CCDPCTwoDController("test", props), detector


@pytest.mark.parametrize("landing", range(1, 6))
def test_a_frame_landing_between_two_reads_is_never_missed(
    controller: tuple[Any, Detector], landing: int
) -> None:
    ctrl, detector = controller
    ctrl.LoadOne(1, 0.0, 1, 0.0)
    ctrl.StartOne(1, 0.0)
    detector.land_after = detector.reads + landing  # the landing-th read of StateOne
    states = []
    for _ in range(3):  # the frame lands during the first look; the second sees it done
        state, status = ctrl.StateOne(1)
        assert state != State.Fault, status
        states.append(state)
    assert states[-1] == State.On, states
    assert detector.frame_number == 42
