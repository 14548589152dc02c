"""Where SaveFrame may write: names resolved under the data folder, refusals with reasons."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import ccdpc
from tango_server.saving import save, target_path


def frame() -> ccdpc.Frame:
    return ccdpc.Frame.from_buffer(bytearray(range(8)), 2, 2)


def test_relative_names_resolve_under_the_folder(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    assert target_path("run/a.kcd", tmp_path, False) == tmp_path.resolve() / "run" / "a.kcd"
    assert target_path("run/../b.NPY", tmp_path, False) == tmp_path.resolve() / "b.NPY"
    inside = str(tmp_path / "c.kcd")
    assert target_path(inside, tmp_path, False) == Path(inside).resolve()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../a.kcd", "outside"),
        ("/etc/a.kcd", "outside"),
        ("link/a.kcd", "outside"),
        ("a.tif", "use .kcd or .npy"),
        ("a", "use .kcd or .npy"),
        ("", "needs a file name"),
        ("missing/a.kcd", "No folder"),
        ("taken.kcd", "exists"),
    ],
)
def test_refusals(tmp_path: Path, name: str, why: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    (folder / "taken.kcd").write_bytes(b"")
    with pytest.raises(ValueError, match=why):
        target_path(name, folder, False)


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DataFolder"):
        target_path("a.kcd", tmp_path / "nowhere", False)


def test_save_writes_both_formats_and_overwrites_only_if_allowed(tmp_path: Path) -> None:
    written = save(frame(), "a.npy", tmp_path, False)
    assert np.array_equal(np.load(written), frame().pixels)
    kcd = save(frame(), "a.kcd", tmp_path, False)
    assert ccdpc.load_frame(kcd).tobytes() == frame().tobytes()
    with pytest.raises(ValueError, match="exists"):
        save(frame(), "a.kcd", tmp_path, False)
    assert save(frame(), "a.kcd", tmp_path, True) == kcd


def test_a_failed_write_leaves_no_empty_file(tmp_path: Path) -> None:
    class Broken(ccdpc.Frame):
        def tobytes(self) -> bytes:
            raise OSError("disk full")

    broken = Broken(2, 2, frame().pixels)
    with pytest.raises(OSError, match="disk full"):
        save(broken, "a.kcd", tmp_path, False)
    assert not os.listdir(tmp_path)
