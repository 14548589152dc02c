"""Where SaveFrame may write, and the writing: a frame to ``.kcd`` or ``.npy`` under DataFolder.

A Tango client names a file on the server's disk, so the name is checked before anything is
written: it is resolved under the data folder (symlinks and ``..`` resolved) and must stay inside
it; an existing file is kept unless overwriting is allowed. Pure functions, no tango import.
"""

from __future__ import annotations

import os
from pathlib import Path

import ccdpc

__all__ = ["SUFFIXES", "save", "saving_root", "target_path"]

#: The formats `ccdpc.save_frame` writes, by suffix.
SUFFIXES = (".kcd", ".npy")


def saving_root(folder: str | os.PathLike[str]) -> Path:
    """DataFolder, resolved; `ValueError` if it is not a usable folder."""
    try:
        root = Path(folder).resolve(strict=True)
    except OSError as exc:
        raise ValueError(f"DataFolder {str(folder)!r} is not usable: {exc.strerror}") from None
    if not root.is_dir():
        raise ValueError(f"DataFolder {str(folder)!r} is not a folder")
    return root


def target_path(path: str, folder: str | os.PathLike[str], allow_overwrite: bool) -> Path:
    """The absolute, resolved file `path` names under `folder`; `ValueError` saying why not."""
    if not path.strip():
        raise ValueError("SaveFrame needs a file name ending in .kcd or .npy")
    root = saving_root(folder)
    target = (root / path).resolve()  # an absolute `path` replaces `root`
    if not target.is_relative_to(root):
        raise ValueError(f"{path!r} is outside DataFolder {str(root)!r}")
    if target.suffix.lower() not in SUFFIXES:
        raise ValueError(f"Cannot save a frame as {target.name!r}: use .kcd or .npy")
    if target.exists() and not allow_overwrite:
        raise ValueError(f"{str(target)!r} exists (AllowOverwrite is false)")
    if not target.parent.is_dir():
        raise ValueError(f"No folder {str(target.parent)!r} to save into")
    return target


def save(frame: ccdpc.Frame, path: str, folder: str | os.PathLike[str], overwrite: bool) -> Path:
    """Write `frame` where `target_path` allows; return the path written."""
    target = target_path(path, folder, overwrite)
    if not overwrite:
        # Claim the name atomically: of two clients saving to one name, only one gets it.
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            raise ValueError(f"{str(target)!r} exists (AllowOverwrite is false)") from None
    try:
        ccdpc.save_frame(frame, target)
    except BaseException:
        if not overwrite:
            target.unlink(missing_ok=True)
        raise
    return target
