"""The detector state machine alone: text in, result out, on a clock the test moves."""

from __future__ import annotations

import re

import pytest

import ccdpc
from ccdpc.messages import Status
from ccdpc.sim.detector import MAX_COMMAND, Detector, Result


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def det(clock: Clock) -> Detector:
    return Detector(seed=42, clock=clock)


def run(det: Detector, text: str | bytes) -> Result:
    return det.execute(text.encode("ascii") if isinstance(text, str) else text)


def ok(text: str) -> Result:
    return Result(Status.OK, text)


def err(text: str) -> Result:
    return Result(Status.ERROR, text)


def test_ident_has_model_serial_and_version(det: Detector) -> None:
    assert run(det, "IDENT") == ok(f"KAPPACCD-SIM 000042 {ccdpc.__version__}")
    assert run(Detector(seed=1234567), "IDENT").text.split()[1] == "234567"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("STATUS", ok("IDLE frames=0")),
        ("status", ok("IDLE frames=0")),
        ("  Status  ", ok("IDLE frames=0")),
        ("SHUTTER OPEN", ok("SHUTTER OPEN")),
        ("shutter   close", ok("SHUTTER CLOSED")),
        ("ABORT", ok("ABORTED")),
        ("READ", err("no frame")),
        ("FOO bar", err("unknown command FOO")),
        ("", err("empty command")),
        ("    ", err("empty command")),
        ("EXPOSE", err("bad argument: EXPOSE takes <seconds> [<binning 1/2>]")),
        ("EXPOSE 1 2 3", err("bad argument: EXPOSE takes <seconds> [<binning 1/2>]")),
        ("EXPOSE 3600.5", err("bad argument: seconds must be 0 to 3600, not 3600.5")),
        ("EXPOSE -1", err("bad argument: seconds must be 0 to 3600, not -1")),
        ("EXPOSE nan", err("bad argument: seconds must be 0 to 3600, not nan")),
        ("EXPOSE 1 3", err("bad argument: binning must be 1 or 2, not 3")),
        ("SHUTTER", err("bad argument: SHUTTER takes OPEN or CLOSE")),
        ("SHUTTER HALF", err("bad argument: SHUTTER takes OPEN or CLOSE")),
        ("STATUS now", err("bad argument: STATUS takes no argument")),
        ("READ 1", err("bad argument: READ takes no argument")),
    ],
)
def test_replies(det: Detector, command: str, reply: Result) -> None:
    assert run(det, command) == reply


def test_limits_of_the_command_text(det: Detector) -> None:
    assert run(det, b"STATUS" + b" " * (MAX_COMMAND - 6)) == ok("IDLE frames=0")
    assert run(det, b"STATUS" + b" " * (MAX_COMMAND - 5)) == err("command too long")
    assert run(det, "IDENT\xe9".encode("latin-1")) == err("command not ASCII")
    assert run(det, b"IDENT\r\n") == err("command not ASCII")


def test_temperature_has_one_decimal_and_stays_near_minus_60(det: Detector, clock: Clock) -> None:
    values = set()
    for _ in range(60):
        text = run(det, "TEMP").text
        assert re.fullmatch(r"-[0-9]+\.[0-9]", text), text
        assert -61.0 <= float(text) <= -59.0
        values.add(text)
        clock.now += 1.0
    assert len(values) > 1, "the temperature never changes"
    assert run(Detector(seed=42, clock=Clock()), "TEMP") == run(
        Detector(seed=42, clock=Clock()), "TEMP"
    )


def test_exposure_reading_idle_with_times_and_events(det: Detector, clock: Clock) -> None:
    assert run(det, "expose 2") == ok("EXPOSING 2.000 1")
    assert det.state == "EXPOSING"
    assert det.next_change() == clock.now + 2
    clock.now += 0.5
    assert run(det, "STATUS") == ok("EXPOSING 0.500/2.000 s")
    assert run(det, "READ") == Result(Status.BUSY, "exposing")
    assert run(det, "EXPOSE 1") == Result(Status.BUSY, "exposing")
    clock.now += 1.53
    assert run(det, "STATUS") == ok("READING 345/1152 rows")
    assert run(det, "READ") == Result(Status.BUSY, "reading")
    clock.now += 0.07
    assert run(det, "STATUS") == ok("IDLE frames=1")
    assert det.take_events() == [
        "STATE EXPOSING",
        "STATE READING",
        "FRAME 1 1242 1152",
        "STATE IDLE",
    ]
    assert det.take_events() == []
    assert det.frames_taken == 1


def test_read_returns_the_last_frame(det: Detector, clock: Clock) -> None:
    run(det, "EXPOSE 0 2")
    clock.now += 0.025
    first = run(det, "READ")
    assert first.text == "FRAME 621 576"
    assert first.data is not None and len(first.data) == 621 * 576 * 2
    assert run(det, "READ").data is first.data, "a second READ is served from the cache"
    run(det, "EXPOSE 0.001")
    clock.now += 0.2
    second = run(det, "READ")
    assert second.text == "FRAME 1242 1152"
    assert second.data is not None and len(second.data) == 1242 * 1152 * 2
    assert det.take_events()[-2:] == ["FRAME 2 1242 1152", "STATE IDLE"]


def test_abort_goes_back_to_idle_without_a_frame(det: Detector, clock: Clock) -> None:
    run(det, "EXPOSE 10")
    clock.now += 1
    assert run(det, "ABORT") == ok("ABORTED")
    assert det.state == "IDLE"
    clock.now += 20
    assert run(det, "STATUS") == ok("IDLE frames=0")
    assert run(det, "READ") == err("no frame")
    assert det.take_events() == ["STATE EXPOSING", "STATE IDLE"]


def test_transitions_happen_when_due_even_if_nobody_asks_in_time(
    det: Detector, clock: Clock
) -> None:
    run(det, "EXPOSE 1 2")
    clock.now += 100
    assert det.state == "IDLE"
    assert det.take_events() == [
        "STATE EXPOSING",
        "STATE READING",
        "FRAME 1 621 576",
        "STATE IDLE",
    ]


def test_error_state(det: Detector) -> None:
    det.fail("cooler failure")
    assert det.state == "ERROR"
    assert run(det, "STATUS") == ok("ERROR cooler failure")
    assert run(det, "EXPOSE 1") == err("detector error: cooler failure")
    assert run(det, "ABORT") == ok("ABORTED")
    assert det.state == "IDLE"
    assert det.take_events() == ["STATE ERROR", "STATE IDLE"]


def test_reset_starts_a_new_run(det: Detector, clock: Clock) -> None:
    run(det, "EXPOSE 0")
    clock.now += 1
    assert det.frames_taken == 1
    det.reset()
    assert det.frames_taken == 0
    assert run(det, "READ") == err("no frame")
    assert det.take_events() == []
