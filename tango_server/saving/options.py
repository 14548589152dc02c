"""How a series is saved (Lima's saving_* settings), checked as they are set. No tango import.

`SavingOptions` holds the mode, format, directory (relative to DataFolder), prefix, next number
and overwrite policy; each setter refuses a bad value with `ValueError` (CCDPC_BadArgument), so a
client learns at once. `SavingOptions.plan` checks again when a series starts (the folder may have
changed since) and names every file the series will write, so that the ABORT policy refuses an
existing file before the first exposure, not at frame 57 (`SavingError`, CCDPC_SavingError).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Format", "Mode", "Plan", "Policy", "SavingError", "SavingOptions", "saving_root"]


class SavingError(RuntimeError):
    """Saving a series cannot start or cannot go on: a file exists, the disk is full, ..."""


class Mode(enum.Enum):
    """MANUAL: frames are saved only by SaveFrame; AUTO_FRAME: every frame as it arrives."""

    MANUAL = "MANUAL"
    AUTO_FRAME = "AUTO_FRAME"


class Format(enum.Enum):
    """KCD and NPY: one file per frame; HDF5: one NeXus file per series."""

    KCD = "KCD"
    NPY = "NPY"
    HDF5 = "HDF5"

    @property
    def suffix(self) -> str:
        return {"KCD": ".kcd", "NPY": ".npy", "HDF5": ".h5"}[self.value]

    @property
    def per_frame(self) -> bool:
        return self is not Format.HDF5


class Policy(enum.Enum):
    """ABORT: an existing file stops the series before it starts; OVERWRITE: it is replaced."""

    ABORT = "ABORT"
    OVERWRITE = "OVERWRITE"


def _choice(kind: type[enum.Enum], text: str, what: str) -> enum.Enum:
    try:
        return kind[text.strip().upper()]
    except KeyError:
        names = ", ".join(kind.__members__)
        raise ValueError(f"{what} {text!r}: must be one of {names}") from None


def saving_root(folder: str | os.PathLike[str]) -> Path:
    """DataFolder, resolved; `ValueError` if it is not a usable folder."""
    try:
        root = Path(folder).resolve(strict=True)
    except OSError as exc:
        raise ValueError(f"DataFolder {str(folder)!r} is not usable: {exc.strerror}") from None
    if not root.is_dir():
        raise ValueError(f"DataFolder {str(folder)!r} is not a folder")
    return root


def inside(root: Path, directory: str) -> Path:
    """`directory` (relative to `root`, or absolute inside it) resolved, symlinks and ``..``
    included; `ValueError` if it leads outside `root`."""
    target = (root / directory).resolve()  # an absolute `directory` replaces `root`
    if not target.is_relative_to(root):
        raise ValueError(f"SavingDirectory {directory!r} is outside DataFolder {str(root)!r}")
    return target


@dataclass(frozen=True)
class Plan:
    """Where one series goes: its folder, and the files in order (one, for HDF5)."""

    folder: Path
    files: tuple[Path, ...]
    format: Format
    overwrite: bool

    def file_of(self, index: int) -> Path:
        """The file frame `index` of the series is written to."""
        return self.files[index if self.format.per_frame else 0]


class SavingOptions:
    """The saving settings of a device, each checked when set (see the module doc)."""

    def __init__(self) -> None:
        self.mode = Mode.MANUAL
        self.format = Format.HDF5
        self.directory = ""
        self.prefix = "frame_"
        self.next_number = 0
        self.policy = Policy.ABORT

    def set_mode(self, text: str) -> None:
        self.mode = Mode(_choice(Mode, text, "SavingMode").value)

    def set_format(self, text: str) -> None:
        self.format = Format(_choice(Format, text, "SavingFormat").value)

    def set_policy(self, text: str) -> None:
        self.policy = Policy(_choice(Policy, text, "SavingOverwritePolicy").value)

    def set_prefix(self, prefix: str) -> None:
        if any(sep in prefix for sep in ("/", "\\", os.sep, "\0")) or prefix in (".", ".."):
            raise ValueError(f"SavingPrefix {prefix!r}: a file name start, without / or \\")
        self.prefix = prefix

    def set_next_number(self, number: int) -> None:
        if number < 0:
            raise ValueError(f"SavingNextNumber {number}: must be >= 0")
        self.next_number = int(number)

    def set_directory(self, directory: str, folder: str | os.PathLike[str]) -> None:
        if "\0" in directory:
            raise ValueError("SavingDirectory holds a NUL character")
        inside(saving_root(folder), directory)
        self.directory = directory

    def plan(self, frames: int, folder: str | os.PathLike[str]) -> Plan:
        """The files of a series of `frames` frames; creates its folder (inside DataFolder) if
        needed. `SavingError` if the folder cannot be used or, under ABORT, a file exists."""
        try:
            target = inside(saving_root(folder), self.directory)
        except ValueError as exc:
            raise SavingError(str(exc)) from None
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SavingError(f"Cannot make SavingDirectory {str(target)!r}: {exc}") from None
        count = frames if self.format.per_frame else 1
        files = tuple(
            target / f"{self.prefix}{self.next_number + i:04d}{self.format.suffix}"
            for i in range(count)
        )
        overwrite = self.policy is Policy.OVERWRITE
        if not overwrite:
            taken = [path for path in files if path.exists()]
            if taken:
                more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
                raise SavingError(
                    f"{str(taken[0])!r}{more} exist (SavingOverwritePolicy ABORT): "
                    "nothing taken; change SavingNextNumber, SavingPrefix or the policy"
                )
        return Plan(target, files, self.format, overwrite)
