"""Rebuild the producer's state from the topics themselves (no local database).

Which history is read, and why:

* ``subbands`` topic: the Kafka timestamp of a SubbandFile event is its file's
  *observation* time (filename time), not when it was published. A backlog bootstrap
  publishes days-old observations, so "the last N hours by Kafka timestamp" would miss
  them. The producer therefore first lists its directory and reads every event whose
  observation time is at least ``min(oldest file in the directory, now) - lookback``.
  That covers every file still on disk (so none is published twice) and the anchors of
  every group a late file could still join. ``offsets_for_times`` finds, per partition,
  the first offset at or after that time; every earlier offset has an earlier
  timestamp (that is the definition), so nothing relevant is skipped even though
  timestamps are not monotonic in the log.
* ``dead-letter`` topic: its timestamps are append times (LogAppendTime). A dead letter
  about a file is written after the file's mtime, so reading from ``min(oldest mtime in
  the directory, now) - lookback`` finds every rejection of a file still on disk; those
  files are not reported again at every restart.

Reading stops at each partition's end as of start-up (the previous producer instance
flushed before it exited). Undecodable events are counted and logged, not fatal.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from converter.grouping import InvalidSubbandName, parse_group_id, parse_subband_filename
from dsa110_stream.settings import TopicSettings
from producer.admission import RejectReason, relative_path
from producer.completeness import FileStat
from producer.settings import ProducerSettings
from producer.state import ProducerState, PublishedFile
from producer.watcher import ScannedFile
from schemas.codec import EventCodec, UndecodableEvent

log = structlog.get_logger(__name__)

_PRODUCER_REASONS = frozenset(reason.value for reason in RejectReason)


class HistoryUnavailable(RuntimeError):
    """The topics could not be read (broker unreachable, timeout): retry later."""


@dataclass(frozen=True)
class HistoryWindow:
    """Read SubbandFile events observed since ``subbands_since`` and dead letters since
    ``dead_letters_since`` (Kafka timestamps)."""

    subbands_since: datetime
    dead_letters_since: datetime


@dataclass
class History:
    """What the topics say this producer (or its predecessors) already did."""

    published: list[PublishedFile] = field(default_factory=list)
    #: ``(path, reason)`` of the producer's own dead letters (path absolute, as it saw it).
    rejected: list[tuple[str, str]] = field(default_factory=list)
    events_read: int = 0
    undecodable: int = 0


def history_window(
    scanned: list[ScannedFile], now: datetime, lookback: timedelta
) -> HistoryWindow:
    """How far back to read the topics for a directory holding ``scanned`` (see above)."""
    oldest_observation = now
    oldest_mtime = now
    for item in scanned:
        # A misnamed file has no observation time; its dead letter is found by its mtime.
        with contextlib.suppress(InvalidSubbandName):
            observed = parse_subband_filename(item.path).timestamp
            oldest_observation = min(oldest_observation, observed)
        if item.stat is not None:
            mtime = datetime.fromtimestamp(item.stat.mtime_ns / 1e9, tz=UTC)
            oldest_mtime = min(oldest_mtime, mtime)
    return HistoryWindow(
        subbands_since=oldest_observation - lookback,
        dead_letters_since=oldest_mtime - lookback,
    )


def seed_state(history: History, settings: ProducerSettings) -> ProducerState:
    """A fresh state holding what the topics say was already published or rejected."""
    state = ProducerState(tolerance=settings.tolerance)
    for published in history.published:
        state.record_published(published)
    for path, reason in history.rejected:
        try:
            state.record_rejected(relative_path(Path(path), settings.root), reason)
        except ValueError:
            continue  # another producer's file, outside our data root
    return state


def read_history(
    client_config: dict[str, Any],
    topics: TopicSettings,
    codec: EventCodec,
    window: HistoryWindow,
    timeout: float = 30.0,
) -> History:
    """Read the producer-relevant part of the subbands and dead-letter topics."""
    consumer = Consumer(
        {
            **client_config,
            "group.id": f"dsa110-producer-history-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    history = History()
    try:
        for message in _read_since(consumer, topics.subbands, window.subbands_since, timeout):
            _take_subband_event(codec, message, history)
        for message in _read_since(
            consumer, topics.dead_letter, window.dead_letters_since, timeout
        ):
            _take_dead_letter(codec, message, history)
    except KafkaException as exc:
        raise HistoryUnavailable(f"cannot read the topics' history: {exc}") from exc
    finally:
        consumer.close()
    return history


def _take_subband_event(codec: EventCodec, message: Message, history: History) -> None:
    history.events_read += 1
    record = _decode(codec, message, "SubbandFile", history)
    if record is None:
        return
    try:
        parse_group_id(record["group_id"])
    except ValueError:
        history.undecodable += 1
        log.warning("SubbandFile event with a malformed group id in history; ignored",
                    partition=message.partition(), offset=message.offset(),
                    group_id=record["group_id"])
        return
    history.published.append(
        PublishedFile(
            relative_path=record["relative_path"],
            group_id=record["group_id"],
            subband=record["subband"],
            timestamp=record["filename_timestamp"],
            # The event keeps the mtime to the microsecond.
            stat=FileStat(record["size_bytes"], int(record["mtime"].timestamp() * 1e6) * 1000),
        )
    )


def _take_dead_letter(codec: EventCodec, message: Message, history: History) -> None:
    history.events_read += 1
    record = _decode(codec, message, "DeadLetter", history)
    if record is None:
        return
    if (
        record["reason"] in _PRODUCER_REASONS
        and record.get("source_topic") is None
        and record.get("path") is not None
    ):
        history.rejected.append((record["path"], record["reason"]))


def _decode(
    codec: EventCodec, message: Message, expected: str, history: History
) -> dict[str, Any] | None:
    try:
        event = codec.decode(message.value())
    except UndecodableEvent as exc:
        history.undecodable += 1
        log.warning("undecodable event in history; ignored", topic=message.topic(),
                    partition=message.partition(), offset=message.offset(), reason=exc.reason)
        return None
    if event.schema_name != expected:
        return None
    return event.record


def _read_since(
    consumer: Consumer, topic: str, since: datetime, timeout: float
) -> Iterator[Message]:
    """Every message of ``topic`` with a timestamp at or after ``since`` (and some before),
    up to each partition's end as of now."""
    metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None:
        if metadata is not None and metadata.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise KafkaException(metadata.error)
        log.info("topic does not exist yet: no history", topic=topic)
        return
    since_ms = int(since.timestamp() * 1000)
    starts = consumer.offsets_for_times(
        [TopicPartition(topic, p, since_ms) for p in metadata.partitions], timeout=timeout
    )
    ends: dict[int, int] = {}
    assignment = []
    for start in starts:
        if start.error is not None:
            raise KafkaException(start.error)
        _, high = consumer.get_watermark_offsets(
            TopicPartition(topic, start.partition), timeout=timeout
        )
        first = start.offset if start.offset >= 0 else high  # -1: nothing that recent
        if first < high:
            ends[start.partition] = high
            assignment.append(TopicPartition(topic, start.partition, first))
    if not assignment:
        return
    consumer.assign(assignment)
    last_progress = time.monotonic()
    try:
        while ends:
            messages = consumer.consume(num_messages=5000, timeout=1.0)
            if messages:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > timeout:
                raise KafkaException(
                    KafkaError(KafkaError._TIMED_OUT, f"no progress reading {topic} for "
                               f"{timeout:.0f} s; partitions left: {sorted(ends)}")
                )
            for message in messages:
                partition = message.partition()
                offset = message.offset()
                assert partition is not None and offset is not None
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ends.pop(partition, None)
                        continue
                    raise KafkaException(error)
                if partition not in ends:
                    continue
                yield message
                if offset + 1 >= ends[partition]:
                    del ends[partition]
    finally:
        consumer.unassign()
