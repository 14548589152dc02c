"""A test client for the simulator over a raw socket, using only the pure framing modules.

It deliberately does not use the driver's connection classes: the simulator is the peer those are
tested against, so the two must not share mistakes. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from ccdpc import gen1, gen2, gen3
from ccdpc.gen1 import encode_record
from ccdpc.greeting import GREETING_SIZE
from ccdpc.messages import Data, Reply, Status

TIMEOUT = 3.0


@dataclass
class Answer:
    """A reply as any generation gives it, with the events that came before it."""

    status: Status
    text: str
    data: bytes | None = None
    seq: int = 0
    events: list[str] = field(default_factory=list)


class RawClient:
    """Connects, reads the greeting and (generation 3) opens a session, unless told not to."""

    def __init__(
        self,
        port: int,
        protocol: int,
        *,
        open_session: bool = True,
        session: int = 0,
        ack: int = 0,
    ) -> None:
        self.protocol = protocol
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._decoder: Any = {1: gen1.ReplyDecoder, 2: gen2.PacketDecoder, 3: gen3.FrameDecoder}[
            protocol
        ]()
        self.seq = 0
        self.session = 0
        #: Generation 3: the highest server sequence number received in order.
        self.received = 0
        self.opened: gen3.Frame3 | None = None
        self.greeting = self.recv_exactly(GREETING_SIZE)
        if protocol == 3 and open_session:
            self.open(session, ack)

    def close(self) -> None:
        self.sock.close()

    def reset_decoder(self, received: int | None = None) -> None:
        """Start decoding afresh (after bytes a decoder could not take); optionally say which
        generation 3 frame came last."""
        self._decoder = type(self._decoder)()
        if received is not None:
            self.received = received

    # -- bytes ----------------------------------------------------------------------------------

    def recv_some(self, timeout: float = TIMEOUT, limit: int = 1 << 20) -> bytes:
        """Up to `limit` bytes of what arrives next (b"" at EOF); `TimeoutError` if none in time."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"nothing arrived within {timeout} s")
        return self.sock.recv(limit)

    def recv_exactly(self, size: int, timeout: float = TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        data = bytearray()
        while len(data) < size:
            chunk = self.recv_some(max(deadline - time.monotonic(), 0.0), size - len(data))
            if not chunk:
                raise EOFError(f"EOF after {len(data)} of {size} bytes: {bytes(data)!r}")
            data += chunk
        return bytes(data)

    def read_until_eof(self, timeout: float = TIMEOUT) -> bytes:
        deadline = time.monotonic() + timeout
        data = bytearray()
        while chunk := self.recv_some(max(deadline - time.monotonic(), 0.0)):
            data += chunk
        return bytes(data)

    def expect_silence(self, duration: float = 0.3) -> None:
        """Nothing arrives (not even EOF) for `duration` seconds."""
        try:
            chunk = self.recv_some(duration)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {chunk!r}")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    # -- messages -------------------------------------------------------------------------------

    def next_message(self, timeout: float = TIMEOUT) -> Any:
        """The next decoded unit: a gen1 `Reply`/`Data`, a gen2 `Packet` or a gen3 `Frame3`."""
        deadline = time.monotonic() + timeout
        while (event := self._decoder.next_event()) is None:
            chunk = self.recv_some(max(deadline - time.monotonic(), 0.0))
            if not chunk:
                raise EOFError("the simulator closed the connection")
            self._decoder.feed(chunk)
        if self.protocol == 3 and event.type.reliable:
            if event.seq <= self.received:
                return self.next_message(timeout)
            assert event.seq == self.received + 1, f"gap: {event.seq} after {self.received}"
            self.received = event.seq
        return event

    def open(self, session: int = 0, ack: int = 0) -> gen3.Frame3:
        self.received = ack
        self.send_raw(gen3.encode_frame(gen3.Type.OPEN, session=session, ack=ack))
        frame: gen3.Frame3 = self.next_message()
        self.opened = frame
        if frame.type is gen3.Type.OPENED:
            self.session = frame.session
        return frame

    def frame(self, type: gen3.Type, payload: bytes = b"", seq: int = 0, flags: int = 0) -> bytes:
        return gen3.encode_frame(
            type, payload, session=self.session, seq=seq, ack=self.received, flags=flags
        )

    def send_command(self, text: str | bytes, seq: int | None = None) -> int:
        payload = text.encode("ascii") if isinstance(text, str) else text
        self.seq = self.seq + 1 if seq is None else seq
        if self.protocol == 1:
            self.send_raw(encode_record(payload))
        elif self.protocol == 2:
            self.send_raw(gen2.encode_packet(gen2.Type.COMMAND, payload, seq=self.seq))
        else:
            self.send_raw(self.frame(gen3.Type.COMMAND, payload, seq=self.seq))
        return self.seq

    def reply(self, timeout: float = TIMEOUT) -> Answer:
        """Read up to the next reply (and its data, for a FRAME reply); events are collected."""
        events: list[str] = []
        while True:
            message = self.next_message(timeout)
            answer = self._as_reply(message, events)
            if answer is None:
                continue
            if answer.status is Status.OK and answer.text.startswith("FRAME "):
                answer.data = self._data(self.next_message(timeout))
            return answer

    def command(self, text: str | bytes, timeout: float = TIMEOUT) -> Answer:
        self.send_command(text)
        return self.reply(timeout)

    def events(self, count: int, timeout: float = TIMEOUT) -> list[str]:
        """The next `count` event texts (generations 2 and 3)."""
        texts = []
        for _ in range(count):
            message = self.next_message(timeout)
            assert message.type.name == "EVENT", f"expected an event, got {message}"
            texts.append(bytes(message.payload).decode("ascii"))
        return texts

    def _as_reply(self, message: Any, events: list[str]) -> Answer | None:
        if self.protocol == 1:
            assert isinstance(message, Reply), message
            return Answer(message.status, message.text, events=events)
        if message.type.name == "EVENT":
            events.append(bytes(message.payload).decode("ascii"))
            return None
        assert message.type.name == "REPLY", f"expected a reply, got {message}"
        text = bytes(message.payload).decode("ascii")
        if self.protocol == 2:
            return Answer(message.status, text, seq=message.seq, events=events)
        return Answer(gen3.reply_status(message.flags), text, seq=message.seq, events=events)

    def _data(self, message: Any) -> bytes:
        if self.protocol == 1:
            assert isinstance(message, Data), message
            return bytes(message.payload)
        assert message.type.name == "DATA", f"expected data, got {message}"
        if self.protocol == 3:
            self.send_raw(self.frame(gen3.Type.ACK))
        return bytes(message.payload)


def wait_for_status(client: RawClient, prefix: str, timeout: float = 3.0) -> list[str]:
    """Poll STATUS until its text starts with `prefix`; return every text seen."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        text = client.command("STATUS").text
        seen.append(text)
        if text.startswith(prefix):
            return seen
    raise AssertionError(f"STATUS never became {prefix!r} within {timeout} s: {seen[-5:]}")


def wait_until(condition: Any, timeout: float = 3.0, what: str = "condition") -> None:
    """Poll a callable until it is true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.005)
