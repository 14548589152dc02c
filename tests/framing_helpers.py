"""Feeding decoders the way a network does: whole, byte by byte, or in random chunks."""

from __future__ import annotations

import itertools
from typing import Protocol, TypeVar

from hypothesis import strategies as st

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class Decoder(Protocol[T_co]):
    def feed(self, data: bytes | bytearray | memoryview) -> None: ...
    def next_event(self) -> T_co | None: ...


def feed_all(decoder: Decoder[T], data: bytes, cuts: list[int] | None = None) -> list[T]:
    """Feed `data` cut at `cuts` (sorted offsets), collecting every event on the way."""
    events: list[T] = []
    edges = [0, *(cuts or []), len(data)]
    for start, end in itertools.pairwise(edges):
        decoder.feed(data[start:end])
        events.extend(iter(decoder.next_event, None))
    return events


def byte_by_byte(data: bytes) -> list[int]:
    return list(range(1, len(data)))


@st.composite
def cuts_for(draw: st.DrawFn, data: bytes) -> list[int]:
    """Random chunk boundaries for `data`."""
    if len(data) < 2:
        return []
    return sorted(set(draw(st.lists(st.integers(1, len(data) - 1), max_size=20))))
