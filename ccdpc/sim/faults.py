"""The failures the simulator can inject: names, what each does, which generations have it.

Where each strikes (carried out by `ccdpc.sim.link`; faults are read at that moment, so
`Simulator.set_faults` changes them for what follows):

- At accept: `silent` (the connection never sends; what it receives is read and dropped, nothing
  is executed; it does not take the controlling-client slot), `wrong-version` (greeting
  ``CCDPC/9.<minor>``; the connection then serves normally).
- When a command arrives: `reset` (not executed; the connection is closed with an RST),
  `half-close` (not executed, not answered; the write side is shut down, a FIN, while the
  connection keeps reading, and dropping, what the client sends until the client closes: a
  half-closed socket, not a closed one), `stall-first` (not executed, not answered, and from then
  on the connection sends nothing). One at a time, in that order of precedence. A generation 3
  command swallowed so is not acknowledged: a resume makes the client send it again.
- When the answer to a command is first sent (the reply, and for READ its data; events, OPENED,
  PONG and retransmissions after a resume are sent intact): `huge-length` (only a header
  announcing 64 MiB + 1 bytes, then the connection sends nothing more), `header-only` (only the
  reply message's header, intact, then nothing more; the connection stays open: generation 2 its
  12-byte header, generation 3 its 24-byte frame header; a generation 1 record has no header, so
  its first 3 bytes, the status word ``OK ``, ``ER `` or ``DA ``, are sent), `stall-mid` (the
  first ``len // 2`` bytes of the reply message, then nothing more; the connection stays open),
  `close-mid` (the same, then FIN), `garbage` (as many random bytes with the high bit set as the
  reply and its data have; the connection goes on), `bad-crc` (generation 3: the reply frame's
  CRC is inverted). One at a time, in that order of precedence. The command was executed, and in
  generation 3 its reply is kept for a resume like any other frame.
- Every send: `trickle` (one byte per ``send()``, `trickle_delay` apart, greeting included),
  `slow` (a slow network: the bytes go out in chunks of at most `slow_chunk` bytes, default 1460,
  a TCP segment, one ``send()`` each, a new chunk at most every `slow_delay` seconds, default
  0.002, greeting included; a connection idle for `slow_delay` sends its next chunk at once;
  `trickle` wins when both are set), `drop-session` (generation 3: FIN once `drop_after` bytes,
  default 1000, have been sent after the greeting on this connection, even in the middle of a
  frame; every connection again).

Faults set with ``once`` (`Simulator.set_faults`) are each cleared the first time they act: a
glitch rather than a broken PC (`slow` acts when a chunk is first held back).
"""

from __future__ import annotations

import random
from collections.abc import Iterable

__all__ = [
    "DESCRIPTIONS",
    "FAULTS",
    "GEN3_ONLY",
    "HUGE_LENGTH",
    "REPLY_FAULTS",
    "check_faults",
    "garbage",
]

#: What each fault does (also the CLI's help text).
DESCRIPTIONS: dict[str, str] = {
    "silent": "accept connections but never send a byte, not even the greeting",
    "stall-first": "send the greeting (and OPENED), then never answer: commands are not executed",
    "stall-mid": "send the first half of a reply's first message, then nothing more",
    "close-mid": "send the first half of a reply's first message, then close (FIN)",
    "garbage": "replace a reply by as many random bytes, each with its high bit set",
    "wrong-version": "announce major version 9 in the greeting",
    "trickle": "send every message one byte per send() call, trickle_delay seconds apart",
    "huge-length": "answer with a header announcing 64 MiB + 1 bytes, then nothing more",
    "bad-crc": "generation 3: reply frames carry a wrong CRC",
    "reset": "on a command, close the connection with RST instead of answering",
    "drop-session": "generation 3: close (FIN) after drop_after bytes on every connection",
    "slow": "send in chunks of slow_chunk bytes, slow_delay seconds apart (a slow network)",
    "half-close": "on a command, shut down the write side (FIN) but keep reading until the client"
    " closes",
    "header-only": "answer with the reply's header only (generation 1: its first 3 bytes), then"
    " nothing more",
}

#: Every fault name, in a stable order.
FAULTS: tuple[str, ...] = tuple(DESCRIPTIONS)

#: Faults that only make sense with the generation 3 framing and sessions.
GEN3_ONLY = frozenset({"bad-crc", "drop-session"})

#: Faults that act on the answer to a command when it is first sent.
REPLY_FAULTS = frozenset(
    {"huge-length", "header-only", "stall-mid", "close-mid", "garbage", "bad-crc"}
)

#: The length the `huge-length` fault announces: one byte over the protocol's 64 MiB limit.
HUGE_LENGTH = 64 * 1024 * 1024 + 1

_HIGH_BIT = bytes(b | 0x80 for b in range(256))


def check_faults(names: Iterable[str], protocol: int) -> frozenset[str]:
    """The fault names as a frozenset; an unknown name, or a generation 3 fault on another
    generation, raises `ValueError` naming the valid ones."""
    faults = frozenset(names)
    unknown = sorted(faults - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; valid: {', '.join(FAULTS)}")
    misplaced = sorted(faults & GEN3_ONLY) if protocol != 3 else []
    if misplaced:
        raise ValueError(f"fault(s) {', '.join(misplaced)} need protocol 3, not {protocol}")
    return faults


def garbage(size: int, rng: random.Random) -> bytes:
    """`size` random bytes, every one with its high bit set: no generation's decoder accepts them
    (not ASCII for records, a length over 64 MiB for generation 2, a wrong magic for generation 3).
    """
    return rng.randbytes(size).translate(_HIGH_BIT)
