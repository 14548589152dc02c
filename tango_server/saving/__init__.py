"""Frames to disk, under the device's DataFolder and nowhere else. No tango import."""

from __future__ import annotations

from .folder import data_folder
from .paths import SUFFIXES, save, target_path

__all__ = ["SUFFIXES", "data_folder", "save", "target_path"]
