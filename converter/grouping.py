"""Which subband files belong to one dump: filename parsing and anchor clustering.

One function of record, shared by the batch converter and the producer, so that batch and
streaming group identically (DOMAIN.md §1). The files of one dump carry filename
timestamps that differ by 0–10 s, and dumps follow each other every ~309 s; any fixed
5-minute grid splits some dumps. Instead a file joins the group whose *anchor* (the
timestamp of the first file that opened the group) is within ±150 s of its own timestamp,
and opens a new group otherwise. The group id is the anchor timestamp in the canonical
``YYYY-MM-DDTHH:MM:SS`` form (UTC).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: Half-width of the clustering window (DOMAIN.md §1: "+/- 2.5 minute window").
DEFAULT_TOLERANCE = timedelta(seconds=150)
#: Subband indices the correlator writes: sb00..sb15.
N_SUBBANDS = 16
GROUP_ID_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Canonical ``YYYY-MM-DDTHH:MM:SS``, and the older ``YYYY-MM-DD HH:MM:SS`` and
# ``YYYYMMDD_HHMMSS`` stems that earlier tools accepted.
_NAME = re.compile(
    r"^(?P<stamp>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}|\d{8}_\d{6})_sb(?P<sb>\d{2,})\.hdf5$"
)
_STAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y%m%d_%H%M%S")


class InvalidSubbandName(ValueError):
    """A file name that is not ``<timestamp>_sbNN.hdf5`` with NN in 00..15."""


class SubbandOutOfRange(InvalidSubbandName):
    """A well-formed name whose subband index is outside 00..15 (e.g. ``_sb16``)."""


@dataclass(frozen=True, order=True)
class SubbandName:
    """What a subband file's name says: its observation timestamp and subband index."""

    timestamp: datetime
    subband: int
    path: Path = field(compare=False)


def parse_subband_filename(path: str | Path) -> SubbandName:
    """Parse ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5`` (or an older stem) into a :class:`SubbandName`.

    The timestamp is UTC and returned timezone-aware, so that no later conversion can
    shift it by the host's time zone (a prototype bug). Raises :class:`InvalidSubbandName`
    with the reason for anything else, including subband indices outside 00..15.
    """
    path = Path(path)
    match = _NAME.match(path.name)
    if match is None:
        raise InvalidSubbandName(
            f"{path.name!r} is not a subband file name: expected "
            "YYYY-MM-DDTHH:MM:SS_sbNN.hdf5 (UTC, NN = 00..15)"
        )
    subband = int(match["sb"])
    if subband >= N_SUBBANDS:
        raise SubbandOutOfRange(
            f"{path.name!r}: subband index {subband} is out of range (00..{N_SUBBANDS - 1:02d})"
        )
    stamp = match["stamp"]
    for fmt in _STAMP_FORMATS:
        try:
            naive = datetime.strptime(stamp, fmt)
        except ValueError:
            continue
        return SubbandName(timestamp=naive.replace(tzinfo=UTC), subband=subband, path=path)
    raise InvalidSubbandName(f"{path.name!r}: {stamp!r} is not a valid date and time")


def format_group_id(anchor: datetime) -> str:
    """The canonical group id of an anchor timestamp (UTC, whole seconds)."""
    if anchor.tzinfo is None:
        raise ValueError("anchor timestamps must be timezone-aware (UTC)")
    return anchor.astimezone(UTC).strftime(GROUP_ID_FORMAT)


def parse_group_id(group_id: str) -> datetime:
    """Inverse of :func:`format_group_id`."""
    return datetime.strptime(group_id, GROUP_ID_FORMAT).replace(tzinfo=UTC)


@dataclass
class GroupClusterer:
    """Assigns timestamps to groups by anchor clustering; the state of record is the anchors.

    The producer keeps one of these for its ingest directory and seeds it at start-up with
    the group ids it reads back from the topic (:meth:`add_anchor`), so its assignments
    survive restarts without a local database.
    """

    tolerance: timedelta = DEFAULT_TOLERANCE
    _anchors: list[datetime] = field(default_factory=list)

    def add_anchor(self, anchor: datetime) -> None:
        """Record an existing group's anchor (idempotent)."""
        index = bisect.bisect_left(self._anchors, anchor)
        if index == len(self._anchors) or self._anchors[index] != anchor:
            self._anchors.insert(index, anchor)

    def assign(self, timestamp: datetime) -> str:
        """Return the group id for ``timestamp``, opening a new group if none is in range.

        When two anchors are in range (only possible if dumps are closer than the
        tolerance, which the telescope never does) the nearest one wins.
        """
        anchor = self.nearest_anchor(timestamp)
        if anchor is None:
            anchor = timestamp
            self.add_anchor(anchor)
        return format_group_id(anchor)

    def nearest_anchor(self, timestamp: datetime) -> datetime | None:
        """The anchor within tolerance of ``timestamp`` that is nearest, if any."""
        index = bisect.bisect_left(self._anchors, timestamp)
        candidates = self._anchors[max(index - 1, 0) : index + 1]
        in_range = [a for a in candidates if abs(a - timestamp) <= self.tolerance]
        return min(in_range, key=lambda a: abs(a - timestamp), default=None)

    def forget_before(self, horizon: datetime) -> None:
        """Drop anchors older than ``horizon`` so that a long-running producer stays small."""
        del self._anchors[: bisect.bisect_left(self._anchors, horizon)]

    @property
    def anchors(self) -> tuple[datetime, ...]:
        return tuple(self._anchors)


@dataclass(frozen=True)
class SubbandGroup:
    """The files of one dump, by subband index, and what is missing or duplicated."""

    group_id: str
    files: dict[int, Path]
    duplicates: tuple[Path, ...] = ()

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(sb for sb in range(N_SUBBANDS) if sb not in self.files)

    @property
    def complete(self) -> bool:
        return not self.missing

    def ordered_paths(self) -> list[Path]:
        """Paths in subband order (sb00 first)."""
        return [self.files[sb] for sb in sorted(self.files)]


def find_subband_groups(
    paths: Iterable[str | Path],
    start: datetime | None = None,
    end: datetime | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> tuple[list[SubbandGroup], list[tuple[Path, str]]]:
    """Group subband files by dump, oldest first, as the producer would in batch order.

    Files are clustered in timestamp order, so each anchor is its dump's earliest file.
    ``start``/``end`` (inclusive, UTC) select groups by group id. Returns the groups and
    the rejected files with the reason (bad names). Two files with the same subband in one
    group: the first by name is kept, the other listed in ``duplicates``.
    """
    parsed: list[SubbandName] = []
    rejected: list[tuple[Path, str]] = []
    for raw in paths:
        try:
            parsed.append(parse_subband_filename(raw))
        except InvalidSubbandName as exc:
            rejected.append((Path(raw), str(exc)))
    parsed.sort(key=lambda n: (n.timestamp, n.subband, n.path.name))

    clusterer = GroupClusterer(tolerance=tolerance)
    by_group: dict[str, dict[int, Path]] = {}
    duplicates: dict[str, list[Path]] = {}
    for name in parsed:
        group_id = clusterer.assign(name.timestamp)
        files = by_group.setdefault(group_id, {})
        if name.subband in files:
            duplicates.setdefault(group_id, []).append(name.path)
        else:
            files[name.subband] = name.path

    groups = []
    for group_id in sorted(by_group):
        anchor = parse_group_id(group_id)
        if (start is not None and anchor < start) or (end is not None and anchor > end):
            continue
        groups.append(
            SubbandGroup(group_id, by_group[group_id], tuple(duplicates.get(group_id, ())))
        )
    return groups, rejected
