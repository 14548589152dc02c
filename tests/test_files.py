"""Frames to files and back: .kcd (checked with fabio) and .npy (checked with numpy)."""

from __future__ import annotations

import array
from pathlib import Path

import fabio
import numpy
import pytest

from ccdpc import Frame, image, load_frame, save_frame


def sample(width: int = 31, height: int = 17) -> Frame:
    rng = numpy.random.default_rng(7)
    pixels = rng.integers(0, 65536, (height, width), dtype=numpy.uint16)
    pixels[0, 0], pixels[-1, -1] = 0, 65535
    return Frame.from_buffer(
        bytearray(pixels.tobytes()), width, height, binning=2, exposure=1.25, timestamp=1.5e9
    )


def test_kcd_round_trip_and_fabio_reads_it_pixel_exact(tmp_path: Path) -> None:
    frame = sample()
    path = save_frame(frame, tmp_path / "frame.kcd")
    back = load_frame(path)
    assert (back.width, back.height, back.binning, back.exposure) == (31, 17, 2, 1.25)
    assert back.timestamp == 1.5e9
    assert numpy.array_equal(back.pixels, frame.pixels)
    with fabio.open(str(path)) as kcd:
        assert type(kcd).__name__ == "KcdImage"
        assert kcd.data.shape == (17, 31)
        assert numpy.array_equal(kcd.data, frame.pixels)
        assert kcd.header["X dimension"] == "31" and kcd.header["Exposure time"] == "1.250"


def test_full_frame_kcd_through_fabio(tmp_path: Path) -> None:
    frame = sample(1242, 1152)
    save_frame(frame, tmp_path / "full.kcd")
    with fabio.open(str(tmp_path / "full.kcd")) as kcd:
        assert numpy.array_equal(kcd.data, frame.pixels)


def test_npy_round_trip_readable_by_numpy(tmp_path: Path) -> None:
    frame = sample()
    path = save_frame(frame, tmp_path / "frame.npy")
    assert numpy.array_equal(numpy.load(path), frame.pixels)
    assert numpy.array_equal(load_frame(path).pixels, frame.pixels)
    numpy.save(tmp_path / "numpy.npy", numpy.asarray(frame.pixels))
    assert numpy.array_equal(load_frame(tmp_path / "numpy.npy").pixels, frame.pixels)


def test_pixels_are_a_view_of_the_receive_buffer() -> None:
    buffer = bytearray(4 * 3 * 2)
    frame = Frame.from_buffer(buffer, 4, 3)
    buffer[0:2] = b"\x34\x12"
    assert frame.pixels.shape == (3, 4) and frame.pixels[0, 0] == 0x1234


def test_without_numpy_pixels_are_an_array(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = sample()
    raw = bytearray(reference.tobytes())
    monkeypatch.setattr(image, "have_numpy", False)
    frame = Frame.from_buffer(raw, 31, 17)
    assert isinstance(frame.pixels, array.array) and frame.pixels.typecode == "H"
    assert frame.statistics()[:2] == (0, 65535)
    for suffix in (".kcd", ".npy"):
        back = load_frame(save_frame(frame, tmp_path / f"plain{suffix}"))
        assert back.pixels == frame.pixels
    monkeypatch.undo()
    assert numpy.array_equal(load_frame(tmp_path / "plain.kcd").pixels, reference.pixels)


@pytest.mark.parametrize("name", ["frame.tif", "frame"])
def test_unknown_suffix(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"use \.kcd or \.npy"):
        save_frame(sample(), tmp_path / name)


def test_corrupt_files(tmp_path: Path) -> None:
    (tmp_path / "bad.kcd").write_bytes(b"KappaCCD image\nX dimension = 10\n\n")
    with pytest.raises(ValueError, match="not a KCD frame"):
        load_frame(tmp_path / "bad.kcd")
    (tmp_path / "short.kcd").write_bytes(b"t\nX dimension = 100\nY dimension = 100\n\nab")
    with pytest.raises(ValueError, match="shorter"):
        load_frame(tmp_path / "short.kcd")
    numpy.save(tmp_path / "float.npy", numpy.zeros((2, 2)))
    with pytest.raises(ValueError, match="uint16"):
        load_frame(tmp_path / "float.npy")


def test_wrong_buffer_size() -> None:
    with pytest.raises(ValueError, match="not 4x3"):
        Frame.from_buffer(bytearray(10), 4, 3)
