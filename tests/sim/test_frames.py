"""Synthetic frames: size, determinism, and the numpy path equal to the pure Python one."""

from __future__ import annotations

import subprocess
import sys
from array import array

import pytest

from ccdpc.sim.frames import HAVE_NUMPY, synthetic_frame

needs_numpy = pytest.mark.skipif(not HAVE_NUMPY, reason="numpy is not installed")


def pixels(data: bytes) -> array[int]:
    values = array("H")
    values.frombytes(data)
    return values


@pytest.mark.parametrize(("width", "height"), [(64, 48), (61, 37), (7, 5), (1, 1), (200, 3)])
@pytest.mark.parametrize(("seed", "number"), [(0, 1), (42, 2), (-5, 17)])
@needs_numpy
def test_numpy_and_pure_python_give_identical_bytes(
    width: int, height: int, seed: int, number: int
) -> None:
    fast = synthetic_frame(width, height, seed, number, use_numpy=True)
    pure = synthetic_frame(width, height, seed, number, use_numpy=False)
    assert len(pure) == width * height * 2
    assert fast == pure


def test_pure_python_frame_looks_like_a_diffraction_image() -> None:
    width, height = 96, 80
    image = pixels(synthetic_frame(width, height, 3, 1, use_numpy=False))
    assert len(image) == width * height
    centre = [
        image[y * width + x]
        for y in range(height // 2 - 6, height // 2 + 7)
        for x in range(width // 2 - 6, width // 2 + 7)
    ]
    assert min(centre) < 60, "a beamstop shadows the beam centre"
    assert max(image) > 2000, "Bragg spots stand out"
    assert len(set(image)) > 200, "noise and rings vary the values"


def test_deterministic_and_different_per_frame_number() -> None:
    assert synthetic_frame(32, 24, 1, 1) == synthetic_frame(32, 24, 1, 1)
    assert synthetic_frame(32, 24, 1, 1) != synthetic_frame(32, 24, 1, 2)
    assert synthetic_frame(32, 24, 1, 1) != synthetic_frame(32, 24, 2, 1)


@needs_numpy
def test_full_frame_size_and_range() -> None:
    data = synthetic_frame(1242, 1152, 0, 1)
    assert len(data) == 1242 * 1152 * 2
    image = pixels(data)
    assert min(image) > 0 and max(image) <= 0xFFFF


def test_bad_size() -> None:
    with pytest.raises(ValueError):
        synthetic_frame(0, 10, 0, 1)


def test_works_without_numpy() -> None:
    script = (
        "import sys; sys.modules['numpy'] = None\n"
        "from ccdpc.sim.frames import HAVE_NUMPY, synthetic_frame\n"
        "assert not HAVE_NUMPY\n"
        "sys.stdout.write(synthetic_frame(40, 30, 9, 3).hex())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=20, check=True
    )
    assert bytes.fromhex(result.stdout.decode("ascii")) == synthetic_frame(40, 30, 9, 3)
