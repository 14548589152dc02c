"""Per-client inboxes and who the clients are: keys, bounds, clients gone. No sockets, no threads
(but one real child process, to see its end)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ccdpc import Data, Event, Reply
from tango_server.link.clients import (
    ANYONE,
    Caller,
    caller_from_ident,
    is_local,
    process_exists,
)
from tango_server.link.inboxes import SWEEP_PERIOD, Inboxes

ONE, TWO = Caller("10.0.0.5 pid 1", "10.0.0.5", 1), Caller("10.0.0.5 pid 2", "10.0.0.5", 2)


def remote(**options: float) -> Inboxes:
    """Inboxes whose clients are all on other hosts: only idleness tells they are gone."""
    return Inboxes(local=lambda host: False, **options)  # type: ignore[arg-type]


def test_caller_keys_are_host_and_process_not_the_port() -> None:
    first = caller_from_ident("giop:tcp:127.0.0.1:53556", pid=17238)
    again = caller_from_ident("giop:tcp:127.0.0.1:40001", pid=17238)
    assert first == again == Caller("127.0.0.1 pid 17238", "127.0.0.1", 17238)
    assert caller_from_ident("giop:tcp:[::1]:5000", pid=7).key == "::1 pid 7"
    assert caller_from_ident("giop:unix:/tmp/omni-x", pid=7).host == "localhost"
    java = caller_from_ident(
        "giop:tcp:10.0.0.9:41000", java_ident=(0xAB, 0xCD), main_class="atkpanel.MainPanel PID=99"
    )
    assert java == Caller("10.0.0.9 java abcd", "10.0.0.9", 99, "atkpanel.MainPanel PID=99")
    assert caller_from_ident("giop:tcp:10.0.0.9:41000").key == "10.0.0.9"  # unidentified


def test_local_addresses_and_processes() -> None:
    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1")
    assert not is_local("192.0.2.1")  # TEST-NET-1: nobody's
    assert not is_local("not an address")
    assert process_exists(os.getpid()) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_exists(child.pid) is False
    assert process_exists(1) is True  # init: another user's process exists too
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:  # ended, not yet reaped: gone all the same
        deadline = time.monotonic() + 10
        while process_exists(zombie.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_exists(zombie.pid) is False
    finally:
        zombie.wait()
    assert process_exists(0) is None


def test_replies_to_one_events_to_every_receiver_and_fetching_keeps_them() -> None:
    boxes = remote()
    boxes.open(ONE, now=0.0)
    boxes.broadcast(Event("before TWO"))
    boxes.open(TWO, now=0.0)
    boxes.deliver(Reply("for TWO"), TWO, now=1.0)
    boxes.broadcast(Event("both"))
    assert (boxes.pending(ONE.key), boxes.pending(TWO.key), boxes.messages) == (2, 2, 4)
    assert [boxes.pop(ONE.key, 2.0), boxes.pop(ONE.key, 2.0)] == [
        Event("before TWO"),
        Event("both"),
    ]
    assert boxes.pop(TWO.key, 2.0) == Reply("for TWO")
    assert boxes.pop(ANYONE.key, 2.0) is None
    assert boxes.messages == 1


def test_each_inbox_is_bounded_and_all_together_too() -> None:
    boxes = remote(max_messages=2, max_bytes=10)
    boxes.open(ONE, now=0.0)
    boxes.broadcast(Event("a"))
    boxes.broadcast(Event("b"))
    assert boxes.broadcast(Event("c")) == [
        "Receive queue of 10.0.0.5 pid 1 full: dropped Event(text='a', seq=0)"
    ]
    boxes.open(TWO, now=0.0)
    assert boxes.deliver(Data(bytearray(8)), TWO, now=0.0) == []  # 10 bytes in all: the bound
    assert boxes.deliver(Data(bytearray(8)), TWO, now=0.0) == [
        "Receive queue of 10.0.0.5 pid 2 full: dropped Data(8 bytes, seq=0)"
    ]
    # ONE is at its 2 messages; then all together are at 11 bytes: the fullest, TWO, loses one
    assert boxes.broadcast(Event("d")) == [
        "Receive queue of 10.0.0.5 pid 1 full: dropped Event(text='b', seq=0)",
        "Receive queue of 10.0.0.5 pid 2 full: dropped Data(8 bytes, seq=0)",
    ]
    assert (boxes.pending(ONE.key), boxes.pending(TWO.key)) == (2, 1)
    assert "1 waiting (1 B), 2 dropped" in boxes.describe(0.0)[1]


def test_receivers_are_bounded_the_least_recent_goes() -> None:
    boxes = remote(max_receivers=2)
    boxes.open(ONE, now=0.0)
    boxes.open(TWO, now=1.0)
    boxes.pending(ONE.key, now=2.0)  # ONE calls: TWO is now the least recent
    three = Caller("h pid 3", "h", 3)
    assert boxes.open(three, now=3.0) == [
        "Inbox of 10.0.0.5 pid 2 dropped (2 receivers already): 0 messages, 0 B"
    ]
    assert ONE.key in boxes and three.key in boxes and TWO.key not in boxes


def test_messages_for_a_client_are_no_call_of_its() -> None:
    boxes = remote(idle=10.0)
    boxes.open(ONE, now=0.0)
    boxes.deliver(Reply("late"), ONE, now=9.0)
    assert len(boxes.sweep(now=10.5)) == 1  # idle since 0, whatever came for it since
    assert boxes.deliver(Reply("later"), ONE, now=11.0) == []  # reopened, for the late reply
    assert boxes.pending(ONE.key) == 1


def test_an_idle_client_loses_its_inbox() -> None:
    boxes = remote(idle=10.0)
    boxes.open(ONE, now=0.0)
    boxes.open(TWO, now=0.0)
    boxes.broadcast(Event("x"))
    boxes.pop(TWO.key, now=8.0)
    assert boxes.sweep(now=9.0) == []
    assert boxes.sweep(now=10.5) == [
        "Inbox of 10.0.0.5 pid 1 dropped (nothing fetched for 10 s): 1 messages, 1 B"
    ]
    boxes.broadcast(Event("y"))  # nothing more for ONE: no growth
    assert (ONE.key in boxes, boxes.messages) == (False, 1)
    assert boxes.sweep(now=18.5) != []
    assert boxes.messages == 0


def test_a_local_client_whose_process_ended_loses_its_inbox_at_once() -> None:
    running = {1: True, 2: True}
    boxes = Inboxes(exists=running.get, local=lambda host: host == "10.0.0.5")
    stranger = Caller("10.0.0.6 pid 1", "10.0.0.6", 1)  # another host: its pid says nothing
    for caller in (ONE, TWO, stranger):
        boxes.open(caller, now=0.0)
    boxes.broadcast(Event("x"))
    running[1] = False
    assert boxes.sweep(now=0.0) == [
        "Inbox of 10.0.0.5 pid 1 dropped (its process has ended): 1 messages, 1 B"
    ]
    running[2] = False
    assert boxes.sweep(now=SWEEP_PERIOD / 2) == []  # looked at most every SWEEP_PERIOD
    assert len(boxes.sweep(now=SWEEP_PERIOD)) == 1
    assert (stranger.key in boxes, boxes.messages) == (True, 1)


def test_a_process_not_found_when_it_first_called_is_left_to_idleness() -> None:
    # Its pid is another namespace's (a container sharing the host's network): never checked.
    boxes = Inboxes(exists=lambda pid: False, local=lambda host: True)
    boxes.open(ONE, now=0.0)
    assert boxes.sweep(now=1.0) == []
    assert ONE.key in boxes


@pytest.mark.parametrize("gone", ["idle", "process"])
def test_dropping_an_inbox_forgets_its_bytes(gone: str) -> None:
    running = {1: True}
    boxes = Inboxes(max_bytes=20, idle=5.0, exists=running.get, local=lambda host: True)
    boxes.open(ONE, now=0.0)
    boxes.deliver(Data(bytearray(15)), ONE, now=0.0)
    running[1] = gone != "process"
    boxes.sweep(now=6.0 if gone == "idle" else 0.0)
    assert boxes.messages == 0
    boxes.open(TWO, now=7.0)
    assert boxes.deliver(Data(bytearray(15)), TWO, now=7.0) == []  # the 15 B of ONE are free
