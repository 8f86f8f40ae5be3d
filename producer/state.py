"""What the producer knows: group anchors, files already published, files already rejected.

Rebuilt at start-up from the topics themselves (:mod:`producer.history`), then kept up to
date as events are handed to Kafka. A file is *claimed* from the moment its event is
handed to the Kafka client: the client retries delivery until it succeeds, and if the
process dies first, the next start-up does not find the event in the topic and
publishes the file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from converter.grouping import GroupClusterer, SubbandName, parse_group_id
from producer.completeness import FileStat


@dataclass(frozen=True)
class PublishedFile:
    """One file's claim: its group, subband and filename time."""

    relative_path: str
    group_id: str
    subband: int
    timestamp: datetime
    #: Size and mtime when published (None when unknown).
    stat: FileStat | None = None


@dataclass
class ProducerState:
    """Grouping anchors plus the published and rejected files, keyed by relative path."""

    tolerance: timedelta
    clusterer: GroupClusterer = field(init=False)
    _published: dict[str, PublishedFile] = field(default_factory=dict)
    _slots: dict[tuple[str, int], str] = field(default_factory=dict)
    #: Rejected relative paths, with the reason (a RejectReason value).
    _rejected: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clusterer = GroupClusterer(tolerance=self.tolerance)

    def record_published(self, published: PublishedFile) -> None:
        """Claim a file for its group and subband (also used when replaying history)."""
        self.clusterer.add_anchor(parse_group_id(published.group_id))
        self._published[published.relative_path] = published
        self._slots.setdefault((published.group_id, published.subband), published.relative_path)

    def assign(self, relative_path: str, name: SubbandName) -> tuple[str, str | None]:
        """Group id for a complete file, and the other file already claiming its subband.

        Opens a new group (anchor = this file's time) when no anchor is within tolerance.
        """
        group_id = self.clusterer.assign(name.timestamp)
        owner = self._slots.get((group_id, name.subband))
        return group_id, (owner if owner not in (None, relative_path) else None)

    def release(self, relative_path: str) -> None:
        """Withdraw a claim whose event the broker refused."""
        published = self._published.pop(relative_path, None)
        if published is not None:
            slot = (published.group_id, published.subband)
            if self._slots.get(slot) == relative_path:
                del self._slots[slot]

    def record_rejected(self, relative_path: str, reason: str) -> None:
        self._rejected[relative_path] = reason

    def rejection_reason(self, relative_path: str) -> str | None:
        return self._rejected.get(relative_path)

    def forget_rejection(self, relative_path: str) -> None:
        """A rejected file was written again: judge it afresh."""
        self._rejected.pop(relative_path, None)

    def is_published(self, relative_path: str) -> bool:
        return relative_path in self._published

    def published(self, relative_path: str) -> PublishedFile | None:
        return self._published.get(relative_path)

    def is_rejected(self, relative_path: str) -> bool:
        return relative_path in self._rejected

    def slot_owner(self, group_id: str, subband: int) -> str | None:
        """Relative path already claimed for ``(group_id, subband)``, if any."""
        return self._slots.get((group_id, subband))

    def forget_before(self, horizon: datetime, present: set[str]) -> None:
        """Drop claims on files older than ``horizon`` and rejections of files now gone.

        Claims on files still in the directory are never dropped (they would be published
        again); callers choose ``horizon`` older than every file present.
        """
        old = [p for p in self._published.values() if p.timestamp < horizon]
        for published in old:
            if published.relative_path in present:
                continue
            del self._published[published.relative_path]
            if self._slots.get((published.group_id, published.subband)) == published.relative_path:
                del self._slots[(published.group_id, published.subband)]
        self.clusterer.forget_before(horizon)
        self._rejected = {p: r for p, r in self._rejected.items() if p in present}

    @property
    def n_published(self) -> int:
        return len(self._published)

    @property
    def n_rejected(self) -> int:
        return len(self._rejected)

