"""``status``: what a consumer group is doing, answered from Kafka alone.

Per partition of the subbands topic: the group's committed offset, the end offset and the
lag. The open groups: the subband events between each committed offset and the end,
grouped by group id, minus the groups the ms-ready / dead-letter topics (read
``read_committed``) record as finished, judged exactly as the consumer judges them
(``consumer.finished.apply_output_event``). Recent completions and failures: the newest
MS-ready events and dead letters. Nothing is committed and no group is joined.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from operations.cluster import ClusterReader, GroupDescription, GroupMember, Watermarks

if TYPE_CHECKING:
    from consumer.settings import ConsumerSettings
    from consumer.state import FinishedRecord
    from schemas.codec import EventCodec


@dataclass(frozen=True)
class PartitionLag:
    """Progress of the consumer group on one partition of the subbands topic."""

    partition: int
    committed: int | None  # None: nothing committed yet; the consumer starts at start_offset
    start_offset: int  # oldest offset still in the log
    end_offset: int  # high watermark: the next offset to be written
    lag: int  # events at or after the resume point: end_offset - max(committed, start_offset)


@dataclass(frozen=True)
class OpenGroup:
    """A group with subband events above the committed offset and no finish event yet."""

    group_id: str
    partition: int
    first_offset: int
    subbands_present: tuple[int, ...]
    subbands_missing: tuple[int, ...]
    events: int
    age_s: float  # now minus the group's observation time (its id)


@dataclass(frozen=True)
class Completion:
    """One MeasurementSetReady event."""

    group_id: str
    partition: int
    offset: int
    ms_path: str
    subbands_present: tuple[int, ...]
    subbands_missing: tuple[int, ...]
    n_rows: int
    total_seconds: float
    stage_seconds: dict[str, float]
    reused: bool
    revision: int
    replay: bool
    produced_at: datetime


@dataclass(frozen=True)
class Failure:
    """One dead letter (from the producer or the consumer)."""

    reason: str
    message: str
    group_id: str | None
    path: str | None
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    attempts: int
    failed_at: datetime


@dataclass(frozen=True)
class ConversionTimes:
    """Total conversion seconds over the recent completions that really converted."""

    converted: int
    reused: int
    median_s: float | None
    max_s: float | None


@dataclass(frozen=True)
class StatusReport:
    """Everything ``dsa110-stream status`` prints."""

    generated_at: datetime
    consumer_group: str
    group_state: str
    members: tuple[GroupMember, ...]
    subbands_topic: str
    partitions: tuple[PartitionLag, ...]
    total_lag: int
    open_groups: tuple[OpenGroup, ...]
    #: Events above the committed offsets whose group is already finished (re-read, skipped).
    finished_events_pending: int
    #: Events above the committed offsets that the consumer cannot use (undecodable, bad
    #: group id, or already dead-lettered).
    unusable_events_pending: int
    #: Partitions whose scan stopped at the scan limit (their open groups may be incomplete).
    scan_truncated: tuple[int, ...]
    completions: tuple[Completion, ...]
    failures: tuple[Failure, ...]
    conversion_times: ConversionTimes
    #: Events in the ms-ready / dead-letter topics this version cannot decode.
    undecodable_output_events: int


@dataclass
class _GroupTally:
    partition: int
    events: list[tuple[int, int]] = field(default_factory=list)  # (offset, subband)


class PendingEvents:
    """Subband events above the committed offsets, tallied by group id."""

    def __init__(self) -> None:
        self._groups: dict[str, _GroupTally] = {}
        self.unusable = 0

    def add(
        self, partition: int, offset: int, schema_name: str | None, record: Mapping[str, Any]
    ) -> None:
        """Count one event; ``schema_name`` None means it could not be decoded."""
        from converter.grouping import parse_group_id

        if schema_name != "SubbandFile":
            self.unusable += 1
            return
        group_id = str(record["group_id"])
        try:
            parse_group_id(group_id)
        except ValueError:
            self.unusable += 1  # the consumer dead-letters it
            return
        tally = self._groups.setdefault(group_id, _GroupTally(partition))
        tally.events.append((offset, int(record["subband"])))

    def oldest_observation(self) -> datetime | None:
        """Observation time of the oldest group seen, None when nothing is pending."""
        from converter.grouping import parse_group_id

        return min((parse_group_id(g) for g in self._groups), default=None)

    def split(
        self,
        finished: FinishedRecord,
        input_topic: str,
        expected_subbands: int,
        now: datetime,
    ) -> tuple[list[OpenGroup], int, int]:
        """(open groups oldest first, events of finished groups, events already dead-lettered)."""
        from converter.grouping import parse_group_id

        open_groups = []
        finished_events = 0
        rejected_events = 0
        for group_id, tally in self._groups.items():
            if finished.group(group_id) is not None:
                finished_events += len(tally.events)
                continue
            usable = [
                (offset, subband)
                for offset, subband in tally.events
                if not finished.is_rejected(input_topic, tally.partition, offset)
            ]
            rejected_events += len(tally.events) - len(usable)
            if not usable:
                continue
            present = sorted({subband for _, subband in usable})
            open_groups.append(
                OpenGroup(
                    group_id=group_id,
                    partition=tally.partition,
                    first_offset=min(offset for offset, _ in usable),
                    subbands_present=tuple(present),
                    subbands_missing=tuple(
                        sb for sb in range(expected_subbands) if sb not in present
                    ),
                    events=len(usable),
                    age_s=(now - parse_group_id(group_id)).total_seconds(),
                )
            )
        open_groups.sort(key=lambda g: (g.group_id, g.partition))
        return open_groups, finished_events, rejected_events


class OutputEvents:
    """What the ms-ready and dead-letter topics say: finished groups, completions, failures."""

    def __init__(self, finished: FinishedRecord, input_topic: str) -> None:
        self.finished = finished
        self.completions: list[Completion] = []
        self.failures: list[Failure] = []
        self.undecodable = 0
        self._input_topic = input_topic

    def add(
        self,
        partition: int,
        offset: int,
        schema_name: str | None,
        record: Mapping[str, Any],
        headers: Any,
    ) -> None:
        """Take one output event into account; ``schema_name`` None: it could not be decoded."""
        from consumer.finished import apply_output_event

        if schema_name is None:
            self.undecodable += 1
            return
        apply_output_event(self.finished, schema_name, record, headers, self._input_topic)
        if schema_name == "MeasurementSetReady":
            self.completions.append(completion(partition, offset, record))
        elif schema_name == "DeadLetter":
            self.failures.append(failure(record))


def lag_rows(
    watermarks: Mapping[int, Watermarks], committed: Mapping[int, int | None]
) -> list[PartitionLag]:
    """One row per partition; with nothing committed the consumer starts at the earliest offset."""
    rows = []
    for partition in sorted(watermarks):
        marks = watermarks[partition]
        at = committed.get(partition)
        resume = marks.low if at is None else max(at, marks.low)
        rows.append(
            PartitionLag(
                partition=partition,
                committed=at,
                start_offset=marks.low,
                end_offset=marks.high,
                lag=max(marks.high - resume, 0),
            )
        )
    return rows


def total_seconds(stage_seconds: Mapping[str, float]) -> float:
    """A conversion's total time: its ``total`` stage when the converter reports one, else the
    sum of the stages."""
    if "total" in stage_seconds:
        return float(stage_seconds["total"])
    return float(sum(stage_seconds.values()))


def completion(partition: int, offset: int, record: Mapping[str, Any]) -> Completion:
    """A :class:`Completion` from a decoded MeasurementSetReady record."""
    stages = {str(k): float(v) for k, v in record["stage_seconds"].items()}
    return Completion(
        group_id=str(record["group_id"]),
        partition=partition,
        offset=offset,
        ms_path=str(record["ms_path"]),
        subbands_present=tuple(int(sb) for sb in record["subbands_present"]),
        subbands_missing=tuple(int(sb) for sb in record["subbands_missing"]),
        n_rows=int(record["n_rows"]),
        total_seconds=total_seconds(stages),
        stage_seconds=stages,
        reused=bool(record["reused"]),
        revision=int(record["revision"]),
        replay=bool(record["replay"]),
        produced_at=record["produced_at"],
    )


def failure(record: Mapping[str, Any]) -> Failure:
    """A :class:`Failure` from a decoded DeadLetter record."""
    return Failure(
        reason=str(record["reason"]),
        message=str(record["message"]),
        group_id=record.get("group_id"),
        path=record.get("path"),
        source_topic=record.get("source_topic"),
        source_partition=record.get("source_partition"),
        source_offset=record.get("source_offset"),
        attempts=int(record["attempts"]),
        failed_at=record["failed_at"],
    )


def conversion_times(completions: Sequence[Completion]) -> ConversionTimes:
    """Median and maximum total seconds of the completions that converted (reused MSs took no
    conversion, so they would only drag the median down)."""
    converted = [c.total_seconds for c in completions if not c.reused]
    reused = sum(1 for c in completions if c.reused)
    return ConversionTimes(
        converted=len(converted),
        reused=reused,
        median_s=statistics.median(converted) if converted else None,
        max_s=max(converted) if converted else None,
    )


def gather_status(
    reader: ClusterReader,
    settings: ConsumerSettings,
    codec: EventCodec,
    *,
    recent: int,
    scan_limit: int,
    now: datetime,
) -> StatusReport:
    """Read everything ``status`` reports; raises ``ClusterError`` when Kafka cannot answer."""
    from consumer.state import FinishedRecord

    topics = settings.topics
    group: GroupDescription = reader.describe_group(settings.group_id)
    partitions = reader.partitions(topics.subbands)
    marks = reader.watermarks(topics.subbands, partitions)
    committed = reader.committed(settings.group_id, topics.subbands, partitions)
    lags = lag_rows(marks, committed)

    pending = PendingEvents()
    scan: dict[int, tuple[int, int]] = {}
    truncated = []
    for row in lags:
        start = row.end_offset - row.lag
        stop = marks[row.partition].stable
        if stop - start > scan_limit:
            stop = start + scan_limit
            truncated.append(row.partition)
        scan[row.partition] = (start, stop)
    for message in reader.read(topics.subbands, scan):
        name, record = _decode(codec, message.value())
        pending.add(_partition(message), _offset(message), name, record)

    oldest = pending.oldest_observation()
    since = None if oldest is None else oldest - timedelta(seconds=settings.finished_lookback_s)
    outputs = OutputEvents(FinishedRecord(), topics.subbands)
    for topic in (topics.ms_ready, topics.dead_letter):
        for message in _read_outputs(reader, topic, since, tail=2 * recent + 2):
            name, record = _decode(codec, message.value())
            outputs.add(_partition(message), _offset(message), name, record, message.headers())

    open_groups, finished_events, rejected_events = pending.split(
        outputs.finished, topics.subbands, settings.expected_subbands, now
    )
    newest_completions = sorted(outputs.completions, key=lambda c: c.produced_at, reverse=True)[
        :recent
    ]
    return StatusReport(
        generated_at=now,
        consumer_group=settings.group_id,
        group_state=group.state,
        members=group.members,
        subbands_topic=topics.subbands,
        partitions=tuple(lags),
        total_lag=sum(row.lag for row in lags),
        open_groups=tuple(open_groups),
        finished_events_pending=finished_events,
        unusable_events_pending=pending.unusable + rejected_events,
        scan_truncated=tuple(truncated),
        completions=tuple(newest_completions),
        failures=tuple(sorted(outputs.failures, key=lambda f: f.failed_at, reverse=True)[:recent]),
        conversion_times=conversion_times(newest_completions),
        undecodable_output_events=outputs.undecodable,
    )


def _read_outputs(
    reader: ClusterReader, topic: str, since: datetime | None, *, tail: int
) -> Iterable[Any]:
    """Messages of an output topic: its last ``tail`` offsets per partition (the recent
    events; commit markers take offsets too, hence the margin) and, when ``since`` is given,
    everything stamped from then on (the finish events of the pending groups)."""
    partitions = reader.partitions(topic)
    marks = reader.watermarks(topic, partitions)
    from_time: Mapping[int, int | None] = (
        reader.offsets_for_time(topic, partitions, since) if since is not None else {}
    )
    ranges = {}
    for partition in partitions:
        stop = marks[partition].stable
        start = max(marks[partition].low, stop - tail)
        stamped = from_time.get(partition)
        if stamped is not None:
            start = min(start, stamped)
        ranges[partition] = (start, stop)
    return reader.read(topic, ranges)


def _decode(codec: EventCodec, value: bytes | None) -> tuple[str | None, dict[str, Any]]:
    from schemas.codec import UndecodableEvent

    if value is None:
        return None, {}
    try:
        decoded = codec.decode(value)
    except UndecodableEvent:
        return None, {}
    return decoded.schema_name, decoded.record


def _partition(message: Any) -> int:
    return int(message.partition())


def _offset(message: Any) -> int:
    return int(message.offset())
