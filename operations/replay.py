"""``replay``: move a consumer group back to an observation-time window of the subbands topic.

The subbands topic is stamped with observation time, so Kafka's own time index
(``ListOffsets`` by timestamp) gives, per partition, the first offset at or after ``T1``
(the window start) and at or after ``T2`` (the window end). The replay sets the group's
committed offset to the window start; the consumers resume from there when started again.

What it does *not* do: convert anything. The consumer skips groups whose MS-ready or
dead-letter event exists (its record of finished groups); only a consumer started with
``--force`` reconverts them (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from operations.cluster import ClusterError, ClusterReader, GroupMember

if TYPE_CHECKING:
    from schemas.codec import EventCodec

#: How the operator stops the consumers of a Helm release (chart helm/dsa110-stream).
STOP_HINT = (
    "stop the consumers first, e.g. kubectl scale statefulset <release>-dsa110-stream-consumer "
    "--replicas=0 (pause a KEDA ScaledObject first: annotate it with "
    'autoscaling.keda.sh/paused-replicas="0"), then wait until `dsa110-stream status` shows '
    "the group EMPTY"
)


class ReplayRefused(RuntimeError):
    """The reset was not done (e.g. the group has active members); the message says why."""


@dataclass(frozen=True)
class PartitionReplay:
    """The replay of one partition of the subbands topic."""

    partition: int
    committed: int | None  # None: the group has no committed offset here
    window_start: int  # first offset stamped at or after T1 (the end offset when none is)
    window_end: int  # first offset stamped at or after T2 (the end offset when none is)
    new_offset: int  # what the group's committed offset becomes
    events: int  # events in [window_start, window_end)
    groups: tuple[str, ...]  # group ids of the SubbandFile events among them
    note: str  # why new_offset is not window_start, when it is not

    @property
    def changes(self) -> bool:
        return self.new_offset != self.committed


@dataclass(frozen=True)
class ReplayPlan:
    """Per-partition offsets of a replay window for one consumer group."""

    consumer_group: str
    topic: str
    start: datetime
    end: datetime
    partitions: tuple[PartitionReplay, ...]

    @property
    def groups(self) -> tuple[str, ...]:
        """Every group id with events in the window, sorted."""
        return tuple(sorted({g for p in self.partitions for g in p.groups}))

    @property
    def events(self) -> int:
        return sum(p.events for p in self.partitions)

    @property
    def new_offsets(self) -> dict[int, int]:
        """The offsets to commit: only partitions whose committed offset changes."""
        return {p.partition: p.new_offset for p in self.partitions if p.changes}


def new_offset(committed: int | None, window_start: int) -> tuple[int, str]:
    """Where to put a partition's committed offset, and why when not at the window start.

    Never forward: a committed offset before the window start points at a group the
    consumer has not finished; moving past it would skip that group for good, and from
    there the consumer re-reads the window anyway.
    """
    if committed is not None and committed < window_start:
        return committed, (
            "kept: the committed offset is already before the window start (an unfinished "
            "group); the consumer re-reads the window from there"
        )
    return window_start, ""


def plan_replay(
    reader: ClusterReader,
    consumer_group: str,
    topic: str,
    start: datetime,
    end: datetime,
    codec: EventCodec,
) -> ReplayPlan:
    """Find the window's offsets and read its events; changes nothing."""
    if end <= start:
        raise ValueError(
            f"--to ({end.isoformat()}) must be later than --from ({start.isoformat()})"
        )
    partitions = reader.partitions(topic)
    marks = reader.watermarks(topic, partitions)
    committed = reader.committed(consumer_group, topic, partitions)
    starts = reader.offsets_for_time(topic, partitions, start)
    ends = reader.offsets_for_time(topic, partitions, end)
    windows: dict[int, tuple[int, int]] = {}
    for partition in partitions:
        stop = marks[partition].stable
        first = starts[partition]
        after = ends[partition]
        window_start = stop if first is None else first
        window_end = stop if after is None else after
        windows[partition] = (window_start, max(window_start, window_end))
    counts, groups = _window_contents(reader, topic, windows, codec)
    rows = []
    for partition in partitions:
        window_start, window_end = windows[partition]
        offset, note = new_offset(committed[partition], window_start)
        rows.append(
            PartitionReplay(
                partition=partition,
                committed=committed[partition],
                window_start=window_start,
                window_end=window_end,
                new_offset=offset,
                events=counts.get(partition, 0),
                groups=tuple(sorted(groups.get(partition, set()))),
                note=note,
            )
        )
    return ReplayPlan(consumer_group, topic, start, end, tuple(rows))


def apply_replay(reader: ClusterReader, plan: ReplayPlan) -> dict[int, int | None]:
    """Commit the plan's offsets for its consumer group; returns the offsets read back.

    Raises :class:`ReplayRefused` when the group has active members (their own commits
    would overwrite the reset, and Kafka refuses it anyway) and ``ClusterError`` when the
    offsets read back differ from those written.
    """
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

    group = reader.describe_group(plan.consumer_group)
    if group.members:
        raise ReplayRefused(
            f"consumer group {plan.consumer_group!r} has {len(group.members)} active "
            f"member(s) ({_describe_members(group.members)}); {STOP_HINT}"
        )
    wanted = plan.new_offsets
    if wanted:
        request = ConsumerGroupTopicPartitions(
            plan.consumer_group,
            [TopicPartition(plan.topic, p, offset) for p, offset in sorted(wanted.items())],
        )
        try:
            result = reader.admin.alter_consumer_group_offsets([request])[
                plan.consumer_group
            ].result()
        except KafkaException as exc:
            raise ReplayRefused(
                f"Kafka refused to reset the offsets of {plan.consumer_group!r}: {exc}; if "
                f"a consumer joined meanwhile, {STOP_HINT}"
            ) from exc
        errors = [f"[{tp.partition}] {tp.error}" for tp in result.topic_partitions if tp.error]
        if errors:
            raise ReplayRefused(
                f"Kafka did not reset the offsets of partitions {', '.join(errors)} (a consumer "
                f"that joined meanwhile makes it answer UNKNOWN_MEMBER_ID); {STOP_HINT}"
            )
    after = reader.committed(
        plan.consumer_group, plan.topic, [p.partition for p in plan.partitions]
    )
    wrong = {p: after[p] for p, offset in wanted.items() if after[p] != offset}
    if wrong:
        raise ClusterError(
            f"after the reset the committed offsets of {plan.consumer_group!r} read back as "
            f"{wrong}, not {wanted}: a consumer may have committed meanwhile; {STOP_HINT} and "
            "run the replay again"
        )
    return after


def _window_contents(
    reader: ClusterReader,
    topic: str,
    windows: Mapping[int, tuple[int, int]],
    codec: EventCodec,
) -> tuple[dict[int, int], dict[int, set[str]]]:
    """Events per partition and the group ids of the SubbandFile events among them."""
    from schemas.codec import UndecodableEvent

    counts: dict[int, int] = {}
    groups: dict[int, set[str]] = {}
    for message in reader.read(topic, windows):
        partition = message.partition()
        assert partition is not None  # set on every delivered message
        counts[partition] = counts.get(partition, 0) + 1
        value = message.value()
        if value is None:
            continue
        try:
            decoded = codec.decode(value)
        except UndecodableEvent:
            continue  # counted as an event; the consumer dead-letters it
        if decoded.schema_name == "SubbandFile":
            groups.setdefault(partition, set()).add(str(decoded.record["group_id"]))
    return counts, groups


def _describe_members(members: tuple[GroupMember, ...]) -> str:
    return ", ".join(f"{m.client_id}@{m.host}" for m in members)
