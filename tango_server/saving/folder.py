"""DataFolder, checked when the device starts: where SaveFrame may write, or why it cannot.

A bad folder is a configuration error, reported at Init with the property's name (the device goes
to FAULT and says so) rather than at the first SaveFrame, hours later. Pure functions, no tango.
"""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

__all__ = ["data_folder"]


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def data_folder(value: str | None) -> Path | None:
    """The resolved folder `value` names, or None when it is empty (SaveFrame is then off).

    `ValueError` ("Property DataFolder: ...") when it is relative (under Starter the working
    directory is Starter's log folder), missing, not a folder, or not writable by the user this
    process runs as: writing is tried, so read-only mounts and ACLs count too.
    """
    if value is None or not value.strip():
        return None
    if not os.path.isabs(value):
        raise ValueError(f"Property DataFolder: {value!r} is not an absolute path")
    try:
        folder = Path(value).resolve(strict=True)
    except OSError as exc:
        raise ValueError(
            f"Property DataFolder: {value!r} does not exist ({exc.strerror})"
        ) from None
    if not folder.is_dir():
        raise ValueError(f"Property DataFolder: {value!r} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".ccdpc-probe-"):
            pass  # created and gone: the user can write here
    except OSError as exc:
        raise ValueError(
            f"Property DataFolder: {value!r} is not writable by user {_user()} ({exc.strerror})"
        ) from None
    return folder
