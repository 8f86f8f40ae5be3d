"""Per-partition aggregation state and every decision taken on it. Pure: no Kafka, no I/O.

For each assigned partition the consumer keeps the groups that are not finished yet
(subbands seen, with the offset of each event), the input messages whose dead letter is
not committed yet, and the position (next offset to read). From that alone follows the
only durable checkpoint, the committed offset (:meth:`PartitionState.committable`): the
first offset of the oldest unfinished item, or the position when nothing is open.
Re-reading from there after a crash rebuilds exactly the unfinished groups, because
every event of an unfinished group lies at or after the group's first offset.

Groups that finished *above* the committed offset are read again after a restart or an
offset reset; :class:`FinishedRecord` (filled from the ms-ready and dead-letter topics)
tells the consumer to skip them instead of emitting a second event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from consumer.outputs import OutputEvent


@dataclass(frozen=True)
class GroupPolicy:
    """When a group is closed, and what happens to an incomplete one."""

    expected_subbands: int = 16
    min_subbands: int = 12
    group_timeout_s: float = 900.0
    observation_horizon_s: float = 773.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_subbands <= self.expected_subbands:
            raise ValueError("need 1 <= min_subbands <= expected_subbands")


class FinishKind(StrEnum):
    """How a group ended."""

    MS_READY = "ms_ready"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class FinishedGroup:
    """A group whose MS-ready (or group dead letter) event is committed in Kafka."""

    group_id: str
    subbands: frozenset[int]
    kind: FinishKind
    revision: int = 0


class FinishedRecord:
    """What is finished: groups by id, and input messages already dead-lettered.

    Filled from the ms-ready and dead-letter topics (``consumer.finished``) and from this
    process's own commits. Adding is idempotent; the record only grows.
    """

    def __init__(self) -> None:
        self._groups: dict[str, FinishedGroup] = {}
        self._rejected: set[tuple[str, int, int]] = set()

    def add_group(self, finished: FinishedGroup) -> None:
        """Record a finished group; an MS beats a dead letter, a higher revision beats a lower."""
        known = self._groups.get(finished.group_id)
        if known is None or _rank(finished) > _rank(known):
            self._groups[finished.group_id] = finished

    def group(self, group_id: str) -> FinishedGroup | None:
        return self._groups.get(group_id)

    def add_rejection(self, topic: str, partition: int, offset: int) -> None:
        """Record that the input message at (topic, partition, offset) was dead-lettered."""
        self._rejected.add((topic, partition, offset))

    def is_rejected(self, topic: str, partition: int, offset: int) -> bool:
        return (topic, partition, offset) in self._rejected

    @property
    def n_groups(self) -> int:
        return len(self._groups)

    @property
    def n_rejections(self) -> int:
        return len(self._rejected)


def _rank(finished: FinishedGroup) -> tuple[int, int]:
    return (finished.kind is FinishKind.MS_READY, finished.revision)


class Verdict(StrEnum):
    """What to do with one decoded subband event."""

    ADD = "add"  # a new subband of an open (or new) group: check the file, then add it
    ALREADY_REJECTED = "already_rejected"  # re-read of a message already dead-lettered: skip
    FINISHED = "finished"  # re-read of a subband of a finished group: skip silently
    LATE = "late"  # a subband that was not part of its (finished or closed) group
    DUPLICATE = "duplicate"  # the same file again for a subband already held: skip
    CONFLICT = "conflict"  # a different file for a subband already held: dead-letter it
    OUT_OF_RANGE = "out_of_range"  # subband index outside 0..expected-1


class Phase(StrEnum):
    """Where an open group is in its life."""

    COLLECTING = "collecting"  # waiting for more subbands
    QUEUED = "queued"  # closed for conversion; waits for a worker (or a retry time)
    CONVERTING = "converting"  # a worker is converting it
    FINISHING = "finishing"  # its MS-ready or dead-letter event awaits the transaction


class CloseReason(StrEnum):
    """Why a group stopped collecting."""

    COMPLETE = "complete"
    WALL_TIMEOUT = "wall_timeout"
    HORIZON = "observation_horizon"


class CloseAction(StrEnum):
    CONVERT = "convert"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class SubbandEntry:
    """One accepted subband event of an open group."""

    subband: int
    offset: int
    relative_path: str
    path: Path


@dataclass
class OpenGroup:
    """A group that is not finished yet."""

    group_id: str
    group_time: datetime
    first_offset: int
    first_seen: float
    subbands: dict[int, SubbandEntry] = field(default_factory=dict)
    phase: Phase = Phase.COLLECTING
    close_reason: CloseReason | None = None
    attempts: int = 0
    not_before: float = 0.0
    job_id: int | None = None
    finish: OutputEvent | None = None

    def paths(self) -> list[Path]:
        """Input files ordered by subband index."""
        return [self.subbands[sb].path for sb in sorted(self.subbands)]

    def missing(self, expected_subbands: int) -> list[int]:
        return [sb for sb in range(expected_subbands) if sb not in self.subbands]


@dataclass
class Rejection:
    """An input message whose dead letter is not committed yet; holds the offset back."""

    offset: int
    event: OutputEvent


@dataclass
class PartitionState:
    """Open groups and pending dead letters of one assigned partition."""

    topic: str
    partition: int
    position: int | None = None
    groups: dict[str, OpenGroup] = field(default_factory=dict)
    rejections: dict[int, Rejection] = field(default_factory=dict)
    latest_group_time: datetime | None = None

    def observe(self, offset: int, group_time: datetime | None) -> None:
        """Note that the message at ``offset`` was read (whatever becomes of it)."""
        self.position = max(self.position or 0, offset + 1)
        if group_time is not None and (
            self.latest_group_time is None or group_time > self.latest_group_time
        ):
            self.latest_group_time = group_time

    def classify(
        self,
        group_id: str,
        subband: int,
        relative_path: str,
        *,
        expected_subbands: int,
        finished: FinishedGroup | None,
        already_rejected: bool,
    ) -> Verdict:
        """Decide what one subband event means for this partition's state.

        ``finished`` is the group's finished record (None when it is not finished or a
        forced replay redoes it); ``already_rejected`` says this very message was
        dead-lettered before. Re-reads are thus skipped without a second event.
        """
        if already_rejected:
            return Verdict.ALREADY_REJECTED
        if not 0 <= subband < expected_subbands:
            return Verdict.OUT_OF_RANGE
        if finished is not None:
            return Verdict.FINISHED if subband in finished.subbands else Verdict.LATE
        group = self.groups.get(group_id)
        if group is None:
            return Verdict.ADD
        held = group.subbands.get(subband)
        if held is not None:
            return Verdict.DUPLICATE if held.relative_path == relative_path else Verdict.CONFLICT
        if group.phase is not Phase.COLLECTING:
            return Verdict.LATE
        return Verdict.ADD

    def add(
        self, group_id: str, group_time: datetime, entry: SubbandEntry, now: float
    ) -> OpenGroup:
        """Add an accepted subband, opening the group at this offset if it is new."""
        group = self.groups.get(group_id)
        if group is None:
            group = OpenGroup(group_id, group_time, first_offset=entry.offset, first_seen=now)
            self.groups[group_id] = group
        if entry.subband in group.subbands or group.phase is not Phase.COLLECTING:
            raise ValueError(
                f"{group_id}: subband {entry.subband} cannot be added (classify first)"
            )
        group.subbands[entry.subband] = entry
        return group

    def reject(self, offset: int, event: OutputEvent) -> None:
        """Hold a message's dead letter until it is committed."""
        self.rejections[offset] = Rejection(offset, event)

    def due(self, now: float, policy: GroupPolicy) -> list[tuple[OpenGroup, CloseReason]]:
        """Collecting groups that must close now, oldest first, with the reason."""
        closing = []
        for group in sorted(self.groups.values(), key=lambda g: g.first_offset):
            if group.phase is not Phase.COLLECTING:
                continue
            reason = close_reason(group, now, self.latest_group_time, policy)
            if reason is not None:
                closing.append((group, reason))
        return closing

    def committable(
        self,
        finishing_groups: Iterable[str] = (),
        finishing_rejections: Iterable[int] = (),
    ) -> int | None:
        """Offset to commit: first offset of the oldest unfinished item, else the position.

        Items in ``finishing_*`` are counted as finished (they are in the transaction
        that will carry this offset). None while nothing has been read.
        """
        done_groups = set(finishing_groups)
        done_rejections = set(finishing_rejections)
        holds = [g.first_offset for g in self.groups.values() if g.group_id not in done_groups]
        holds += [o for o in self.rejections if o not in done_rejections]
        if holds:
            return min(holds)
        return self.position

    def remove_group(self, group_id: str) -> None:
        del self.groups[group_id]

    def remove_rejection(self, offset: int) -> None:
        del self.rejections[offset]

    @property
    def is_idle(self) -> bool:
        return not self.groups and not self.rejections


def close_reason(
    group: OpenGroup, now: float, latest_group_time: datetime | None, policy: GroupPolicy
) -> CloseReason | None:
    """Why ``group`` must stop collecting now, or None to keep waiting."""
    if len(group.subbands) >= policy.expected_subbands:
        return CloseReason.COMPLETE
    if now - group.first_seen >= policy.group_timeout_s:
        return CloseReason.WALL_TIMEOUT
    if (
        latest_group_time is not None
        and (latest_group_time - group.group_time).total_seconds() >= policy.observation_horizon_s
    ):
        return CloseReason.HORIZON
    return None


def close_action(group: OpenGroup, reason: CloseReason, policy: GroupPolicy) -> CloseAction:
    """Convert a complete group, or an incomplete one with enough subbands; else dead-letter."""
    if reason is CloseReason.COMPLETE or len(group.subbands) >= policy.min_subbands:
        return CloseAction.CONVERT
    return CloseAction.DEAD_LETTER


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Delay before attempt ``attempt + 1`` after ``attempt`` failed: base · 2^(attempt-1)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    return float(min(max_s, base_s * 2 ** (attempt - 1)))
