"""The CRC-32 of generation 3: every implementation installed gives zlib's values, and `use`
switches the framing's encoder and decoders, so frames check with either."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator

import pytest

import ccdpc
from ccdpc import checksum, gen3
from ccdpc.sim import Simulator, synthetic_frame


@pytest.fixture(params=sorted(checksum.CRC32S))
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each CRC-32 installed in turn, put back as it was after the test."""
    saved = checksum.using
    checksum.use(request.param)
    yield str(request.param)
    checksum.use(saved)


def test_zlib_is_always_there_and_isal_preferred() -> None:
    assert "zlib" in checksum.CRC32S
    assert checksum.using == next(iter(checksum.CRC32S))  # the first, the fastest, by default


def test_unknown_implementation_is_refused() -> None:
    with pytest.raises(ValueError, match="No CRC-32 'crc32c' installed"):
        checksum.use("crc32c")


@pytest.mark.parametrize("size", [0, 1, 13, 4096, 262144 + 17])
def test_values_and_continuation_are_zlibs(implementation: str, size: int) -> None:
    data = bytes(hashlib.sha256(str(n).encode()).digest()[n % 32] for n in range(size))
    assert checksum.crc32(data) == zlib.crc32(data)
    view, middle = memoryview(bytearray(data)), size // 3
    assert checksum.crc32(view[middle:], checksum.crc32(view[:middle])) == zlib.crc32(data)


def test_frames_encode_and_decode_with_it(implementation: str) -> None:
    payload = bytes(range(256)) * 40
    frame = gen3.encode_frame(gen3.Type.DATA, payload, session=5, seq=2)
    assert gen3.decode_header(frame[: gen3.HEADER_SIZE]).crc == zlib.crc32(payload)
    decoder = gen3.FrameDecoder()
    decoder.feed(frame)
    event = decoder.next_event()
    assert event is not None and event.payload == payload


def test_a_frame_read_with_it_is_exact(implementation: str) -> None:
    with Simulator(protocol=3, seed=4) as sim, ccdpc.CCDPC(sim.hostname) as pc:
        ccdpc.Detector(pc).acquire(0.0, 2, timeout=10.0)
        frame = pc.read_frame()
        assert bytes(frame.pixels) == synthetic_frame(621, 576, 4, 1)
