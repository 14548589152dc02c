"""Routing replies to their commands, the inbox, and the PC's complaints. No sockets, no threads."""

from __future__ import annotations

import pytest

import ccdpc
from ccdpc import Data, Event, Reply, Status
from tango_server.link.clients import ANYONE, Caller
from tango_server.link.mailbox import UNKNOWN_SEQ, Mailbox, Ticket, payload_of


def sent(
    box: Mailbox, text: str, waited_for: bool = True, seq: int = 0, owner: Caller = ANYONE
) -> Ticket:
    """A command sent, as the link sends it: a `Send` opens its sender's inbox."""
    ticket = Ticket(text, waited_for, owner=owner)
    if not waited_for:
        box.inboxes.open(owner, now=10.0)
    box.sent(ticket, seq, now=10.0)
    return ticket


def test_replies_pair_with_commands_in_order() -> None:
    box = Mailbox()
    first, second = sent(box, "IDENT"), sent(box, "TEMP", waited_for=False)
    box.route(Event("STATE IDLE"))
    box.route(Reply("KAPPACCD-SIM 1 2"))
    box.route(Reply("-60.0"))
    assert first.reply == Reply("KAPPACCD-SIM 1 2")
    assert second.reply is None  # nobody waits: to the inbox, after the event
    assert [box.pop(), box.pop(), box.pop()] == [Event("STATE IDLE"), Reply("-60.0"), None]


def test_data_goes_to_the_inbox() -> None:
    box = Mailbox()
    read = sent(box, "READ")  # a Command("READ"): the data goes to its sender's inbox
    box.route(Reply("FRAME 1 1"))
    box.route(Data(bytearray(b"\x01\x02")))
    assert read.reply == Reply("FRAME 1 1")
    assert box.pending == 1
    assert payload_of(box.pop()) == b"\x01\x02"  # type: ignore[arg-type]


def test_data_of_a_read_that_wants_it_goes_to_its_ticket() -> None:
    box = Mailbox()
    read = Ticket("READ", waited_for=True, wants_data=True)
    box.sent(read, 0, now=10.0)
    box.route(Reply("FRAME 1 1"), now=11.0)
    assert (read.settled, box.receiving_since) == (False, 11.0)  # the transfer is under way
    box.inboxes.open(ANYONE, now=11.0)  # a receiver, to get the event
    box.route(Event("STATE IDLE"))
    data = Data(bytearray(b"\x01\x02"))
    box.route(data, now=12.0)
    assert (read.data, read.settled, box.receiving_since, box.pending) == (data, True, None, 1)


def test_a_refused_read_wants_no_data() -> None:
    box = Mailbox()
    read = Ticket("READ", waited_for=True, wants_data=True)
    box.sent(read, 0, now=10.0)
    box.route(Reply("no frame", Status.ERROR))
    assert read.settled
    assert box.receiving_since is None


def test_loss_during_a_transfer_fails_its_ticket_and_clocks_restart() -> None:
    box = Mailbox()
    read = Ticket("READ", waited_for=True, wants_data=True)
    box.sent(read, 0, now=10.0)
    box.route(Reply("FRAME 1 1"), now=11.0)
    box.restart_clocks(20.0)
    assert box.receiving_since == 20.0
    box.fail_all(ccdpc.emptypacket("gone"))
    assert read.settled
    assert box.receiving_since is None


def test_a_command_of_unknown_number_may_get_a_busy_reply() -> None:
    box = Mailbox()
    expose = sent(box, "EXPOSE 1", seq=UNKNOWN_SEQ)
    box.route(Reply("exposing", Status.BUSY, seq=4))
    assert expose.reply is not None


def test_unsolicited_busy_reply_is_a_refusal() -> None:
    with pytest.raises(ccdpc.CommandError, match="another client") as exc:
        Mailbox().route(Reply("another client is connected", Status.BUSY))
    assert exc.value.busy


def test_busy_reply_of_another_sequence_is_a_refusal() -> None:
    box = Mailbox()
    ident = sent(box, "IDENT", seq=1)
    with pytest.raises(ccdpc.CommandError):
        box.route(Reply("another client is connected", Status.BUSY, seq=0))
    box.route(Reply("busy exposing", Status.BUSY, seq=1))
    assert ident.reply is not None
    assert ident.reply.status is Status.BUSY


def test_error_reply_is_an_alarm_until_a_good_reply() -> None:
    box = Mailbox()
    sent(box, "FROB")
    assert box.route(Reply("unknown command FROB", Status.ERROR)) == [
        "Error reply to 'FROB': unknown command FROB"
    ]
    assert "FROB" in box.alarm
    sent(box, "IDENT")
    box.route(Reply("x"))
    assert box.alarm == ""


def test_status_error_is_an_alarm_until_status_is_fine() -> None:
    box = Mailbox()
    sent(box, "STATUS")
    box.route(Reply("ERROR cooling lost"))
    assert "cooling lost" in box.alarm
    sent(box, "IDENT")
    box.route(Reply("x"))
    assert "cooling lost" in box.alarm  # another command's success says nothing of the PC
    sent(box, "STATUS")
    box.route(Reply("IDLE frames=0"))
    assert box.alarm == ""
    sent(box, "STATUS")
    box.route(Reply("ERROR again"))
    box.clear_alarms()
    assert box.alarm == ""


def test_busy_reply_is_no_alarm() -> None:
    box = Mailbox()
    sent(box, "READ")
    assert box.route(Reply("reading", Status.BUSY)) == ["Busy reply to 'READ': reading"]
    assert box.alarm == ""


def test_overdue_and_fail_all() -> None:
    box = Mailbox()
    ticket = sent(box, "IDENT")
    assert box.overdue(now=10.5, limit=1.0) is None
    assert box.overdue(now=11.5, limit=1.0) is ticket
    lost = ccdpc.emptypacket("gone")
    box.fail_all(lost)
    assert (ticket.error, ticket.settled, box.overdue(now=99.0, limit=1.0)) == (lost, True, None)


def test_inbox_is_bounded() -> None:
    box = Mailbox(max_messages=2, max_bytes=10)
    box.inboxes.open(ANYONE, now=0.0)
    assert box.route(Event("a")) == []
    box.route(Event("b"))
    assert box.route(Event("c")) == ["Receive queue full: dropped Event(text='a', seq=0)"]
    assert box.route(Data(bytearray(9))) == ["Receive queue full: dropped Event(text='b', seq=0)"]
    assert [box.pop(), box.pop()] == [Event("c"), Data(bytearray(9))]


def test_payload_of() -> None:
    assert payload_of(Event("STATE IDLE")) == b"STATE IDLE"
    assert payload_of(Reply("ok")) == b"ok"
    with pytest.raises(ccdpc.CommandError) as exc:
        payload_of(Reply("no frame", Status.ERROR))
    assert not exc.value.busy


def test_waiting_since_the_oldest_command_or_the_data_under_way() -> None:
    box = Mailbox()
    assert box.waiting_since is None
    read = Ticket("READ", waited_for=True, wants_data=True)
    box.sent(read, 1, now=10.0)
    box.sent(Ticket("TEMP", waited_for=True), 2, now=11.0)
    assert box.waiting_since == 10.0
    box.route(Reply("FRAME 2 1", seq=1), now=12.0)  # its data now comes; TEMP waits since 11
    assert box.waiting_since == 11.0
    box.route(Reply("-60.0", seq=2), now=12.5)
    assert box.waiting_since == 12.0  # only the data under way
    box.route(Data(bytearray(4), seq=1), now=13.0)
    assert box.waiting_since is None


def test_replies_and_data_go_to_their_sender_events_to_all() -> None:
    box = Mailbox()
    one, two = Caller("h pid 1", "h", 1), Caller("h pid 2", "h", 2)
    sent(box, "IDENT", waited_for=False, owner=one)
    sent(box, "READ", waited_for=False, owner=two)
    sent(box, "TEMP", waited_for=False, owner=one)
    box.route(Reply("KAPPACCD-SIM 1 2"))
    box.route(Reply("FRAME 1 1"))
    box.route(Data(bytearray(b"\x01\x02")))
    box.route(Event("STATE IDLE"))
    box.route(Reply("-60.0"))
    assert (box.pending, box.inboxes.pending(one.key), box.inboxes.pending(two.key)) == (6, 3, 3)
    assert [box.pop(one.key), box.pop(one.key), box.pop(one.key)] == [
        Reply("KAPPACCD-SIM 1 2"),
        Event("STATE IDLE"),
        Reply("-60.0"),
    ]
    assert [box.pop(two.key), box.pop(two.key), box.pop(two.key), box.pop(two.key)] == [
        Reply("FRAME 1 1"),
        Data(bytearray(b"\x01\x02")),
        Event("STATE IDLE"),
        None,
    ]
    assert box.pop(ANYONE.key) is None  # never sent nor received: no inbox, no events


def test_a_late_reply_opens_its_senders_inbox() -> None:
    box = Mailbox()
    caller = Caller("h pid 3", "h", 3)
    ticket = sent(box, "IDENT", owner=caller)
    ticket.waited_for = False  # the caller gave up waiting
    box.route(Reply("KAPPACCD-SIM 1 2"), now=11.0)
    assert box.pop(caller.key, now=12.0) == Reply("KAPPACCD-SIM 1 2")
