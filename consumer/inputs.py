"""Resolve an event's relative path under this consumer's own data root, safely.

Pods may mount the ingest volume anywhere, so events carry a path relative to the data
root. A path that escapes the root (``..``, an absolute path, a symlink pointing out) or
names no regular file is refused *before* anything reads it; the caller dead-letters it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class InputPathError(ValueError):
    """A subband event's file cannot be used; ``reason`` is the dead-letter reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def resolve_input(data_root: Path, relative_path: str) -> Path:
    """The absolute, symlink-free path of ``relative_path`` under ``data_root``.

    Raises :class:`InputPathError` with reason ``OUTSIDE_DATA_ROOT`` or ``MISSING_FILE``.
    """
    root = data_root.resolve()
    relative = PurePosixPath(relative_path)
    if relative.is_absolute() or not relative.parts:
        raise InputPathError(
            "OUTSIDE_DATA_ROOT",
            f"relative_path {relative_path!r} must be a non-empty path relative to the data root",
        )
    candidate = (root / Path(*relative.parts)).resolve()
    if not candidate.is_relative_to(root):
        raise InputPathError(
            "OUTSIDE_DATA_ROOT",
            f"relative_path {relative_path!r} resolves to {candidate}, outside the data root "
            f"{root}",
        )
    if not candidate.is_file():
        raise InputPathError(
            "MISSING_FILE",
            f"{candidate} (relative_path {relative_path!r}) does not exist or is not a file "
            f"under the data root {root}; check that this consumer mounts the producer's volume",
        )
    return candidate
