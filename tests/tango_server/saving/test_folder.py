"""DataFolder checked at Init: usable folders resolved, the rest refused naming the property."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tango_server.saving import data_folder


def test_empty_means_saving_off() -> None:
    assert data_folder("") is None
    assert data_folder("  ") is None
    assert data_folder(None) is None


def test_a_writable_folder_is_resolved_and_left_clean(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert data_folder(str(tmp_path / "link")) == (tmp_path / "real").resolve()
    assert list((tmp_path / "real").iterdir()) == []  # the write probe leaves nothing


@pytest.mark.parametrize(
    ("name", "why"),
    [("missing", "does not exist"), ("file", "is not a folder"), (None, "not an absolute path")],
)
def test_unusable_folders_name_the_property(tmp_path: Path, name: str | None, why: str) -> None:
    (tmp_path / "file").write_text("x")
    value = "relative/frames" if name is None else str(tmp_path / name)
    with pytest.raises(ValueError, match=f"^Property DataFolder: .*{why}"):
        data_folder(value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; the facility test runs "
                    "this case as the tango user (tests/facility)")  # fmt: skip
def test_a_folder_the_user_cannot_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    with pytest.raises(ValueError, match=r"Property DataFolder: .* is not writable by user"):
        data_folder(str(folder))


def test_a_folder_no_user_can_write_is_refused() -> None:
    # procfs takes no new files, not even root's: the write probe, not the mode bits, decides.
    with pytest.raises(ValueError, match="Property DataFolder: '/proc/self' is not writable by"):
        data_folder("/proc/self")
