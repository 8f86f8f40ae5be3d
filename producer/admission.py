"""Which files in the ingest directory the producer considers, and which it rejects at once.

A *candidate* is any ``*.hdf5`` file that is not hidden: writers that rename into place
use temporary names (``.x.hdf5``, ``x.hdf5.part``), which are ignored until renamed.
A candidate is rejected before any completeness check when its name is not a subband
file name (BAD_FILENAME), names a subband index beyond 15 (OUT_OF_RANGE), carries a
time too far in the future for a Kafka timestamp (OUT_OF_RANGE), or resolves (following
symlinks) to a place outside the data root (OUTSIDE_DATA_ROOT).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from converter.grouping import (
    InvalidSubbandName,
    SubbandName,
    SubbandOutOfRange,
    parse_subband_filename,
)

SUFFIX = ".hdf5"


class RejectReason(enum.Enum):
    """The producer's DeadLetterReason symbols (schemas/avro/DeadLetter)."""

    BAD_FILENAME = "BAD_FILENAME"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    CORRUPT_FILE = "CORRUPT_FILE"
    OUTSIDE_DATA_ROOT = "OUTSIDE_DATA_ROOT"
    MISSING_FILE = "MISSING_FILE"
    DUPLICATE_FILE = "DUPLICATE_FILE"


@dataclass(frozen=True)
class Rejection:
    reason: RejectReason
    message: str


def is_candidate_name(name: str) -> bool:
    """True for names the producer looks at (``*.hdf5``, not hidden)."""
    return name.endswith(SUFFIX) and not name.startswith(".")


def relative_path(path: Path, data_root: Path) -> str:
    """``path`` (as listed, symlinks not followed) relative to the data root, POSIX form."""
    return PurePosixPath(*path.relative_to(data_root).parts).as_posix()


def admit(
    path: Path, data_root_resolved: Path, now: datetime, max_future: timedelta
) -> SubbandName | Rejection:
    """Parse a candidate's name and check its location; a :class:`Rejection` says why not."""
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        return Rejection(
            RejectReason.MISSING_FILE, f"{path} is a symlink to a file that does not exist"
        )
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop
        return Rejection(RejectReason.MISSING_FILE, f"{path} cannot be resolved: {exc}")
    if not resolved.is_relative_to(data_root_resolved):
        return Rejection(
            RejectReason.OUTSIDE_DATA_ROOT,
            f"{path} resolves to {resolved}, outside the data root {data_root_resolved}; "
            "consumers could not read it",
        )
    try:
        name = parse_subband_filename(path)
    except SubbandOutOfRange as exc:
        return Rejection(RejectReason.OUT_OF_RANGE, str(exc))
    except InvalidSubbandName as exc:
        return Rejection(RejectReason.BAD_FILENAME, str(exc))
    if name.timestamp - now > max_future:
        return Rejection(
            RejectReason.OUT_OF_RANGE,
            f"{path.name}: filename time {name.timestamp.isoformat()} is more than "
            f"{max_future} in the future (clock or file name wrong?)",
        )
    return name
