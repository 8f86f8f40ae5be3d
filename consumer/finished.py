"""The record of finished groups, read back from the ms-ready and dead-letter topics.

Why the topics and not the offset-commit metadata (docs/consumer.md has the full
argument): an operator's ``kafka-consumer-groups --reset-offsets`` wipes commit metadata,
yet a replay after such a reset must not emit finished groups again. The output topics
are the record that downstream itself trusts; reading them ``read_committed`` shows
exactly the committed transactions, i.e. exactly the finished groups.

What is read: every partition of both topics, from the Kafka time index of
"observation time minus ``lookback``" (MS-ready events carry the group's observation
time as their timestamp; dead letters carry the broker's append time, which is later
than the observation they concern), or from the partition's first offset where that
lookup finds nothing, up to the high watermark (read_uncommitted, so that a
transaction whose commit markers are still being written is waited for rather than
missed). The covered window is extended backwards on demand when an older event turns
up, and forwards at every partition assignment (another instance may have finished
groups of the partitions we receive).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from consumer.outputs import DEAD_LETTER, GROUP_REASONS, MS_READY, SUBBANDS_HEADER
from consumer.state import FinishedGroup, FinishedRecord, FinishKind

if TYPE_CHECKING:
    from schemas.codec import EventCodec

log = structlog.get_logger(__name__)

#: (topic, partition)
PartitionKey = tuple[str, int]


class FinishedRecordUnavailable(RuntimeError):
    """The output topics could not be read in time; converting now could emit a group twice."""


def apply_output_event(
    record: FinishedRecord,
    schema_name: str,
    fields: Mapping[str, Any],
    headers: Iterable[tuple[str, bytes | str | None]] | None,
    input_topic: str,
) -> None:
    """Update ``record`` with one decoded event from the ms-ready or dead-letter topic."""
    if schema_name == MS_READY:
        record.add_group(
            FinishedGroup(
                group_id=str(fields["group_id"]),
                subbands=frozenset(int(sb) for sb in fields["subbands_present"]),
                kind=FinishKind.MS_READY,
                revision=int(fields["revision"]),
            )
        )
        return
    if schema_name != DEAD_LETTER or fields.get("source_topic") != input_topic:
        return  # the producer's dead letters concern files, not our input messages
    reason = fields.get("reason")
    group_id = fields.get("group_id")
    if reason in GROUP_REASONS and group_id:
        record.add_group(
            FinishedGroup(
                group_id=str(group_id),
                subbands=_subbands_header(headers),
                kind=FinishKind.DEAD_LETTER,
            )
        )
    elif reason not in GROUP_REASONS:
        partition, offset = fields.get("source_partition"), fields.get("source_offset")
        if partition is not None and offset is not None:
            record.add_rejection(input_topic, int(partition), int(offset))


def _subbands_header(headers: Iterable[tuple[str, bytes | str | None]] | None) -> frozenset[int]:
    for key, value in headers or ():
        if key == SUBBANDS_HEADER and value:
            text = value.decode() if isinstance(value, bytes) else value
            return frozenset(int(item) for item in text.split(",") if item)
    return frozenset()


class FinishedRecordReader:
    """Keeps a :class:`FinishedRecord` filled from the output topics."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        *,
        input_topic: str,
        output_topics: tuple[str, ...],
        reader_group: str,
        record: FinishedRecord,
        codec: EventCodec,
        lookback: timedelta,
        timeout_s: float,
    ) -> None:
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient

        self.record = record
        self._input_topic = input_topic
        self._topics = output_topics
        self._lookback = lookback
        self._timeout_s = timeout_s
        self._codec = codec
        self._admin = AdminClient(dict(client_config))
        # Never subscribes or commits: the group id is only required by the client.
        self._consumer = Consumer(
            {
                **client_config,
                "group.id": reader_group,
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        self._covered_from: datetime | None = None
        self._start: dict[PartitionKey, int] = {}
        self._end: dict[PartitionKey, int] = {}
        self.events_read = 0

    @property
    def covered_from(self) -> datetime | None:
        """Events stamped at or after this time are all in the record (None: nothing read)."""
        return self._covered_from

    def ensure_covers(self, when: datetime) -> None:
        """Make sure every finish event stamped at or after ``when`` is in the record."""
        if self._covered_from is not None and when >= self._covered_from:
            return
        since = when - self._lookback
        high = self._high_watermarks()
        starts = self._offsets_for_time(since, list(high))
        ranges = {}
        for key, start in starts.items():
            stop = self._start.get(key, high[key])
            if start < stop:
                ranges[key] = (start, stop)
        self._read(ranges, f"covering from {since.isoformat()}")
        for key, start in starts.items():
            self._start[key] = min(start, self._start.get(key, start))
            self._end.setdefault(key, high[key])
        self._covered_from = since

    def refresh(self) -> None:
        """Read what was committed since the last read (call on partition assignment)."""
        if self._covered_from is None:
            return  # nothing covered yet: the first ensure_covers reads up to the end
        high = self._high_watermarks()
        new = [key for key in high if key not in self._end]
        if new:
            starts = self._offsets_for_time(self._covered_from, new)
            self._start.update(starts)
            self._end.update(starts)
        ranges = {key: (self._end[key], high[key]) for key in high if self._end[key] < high[key]}
        self._read(ranges, "refresh")
        for key, end in high.items():
            self._end[key] = max(end, self._end[key])

    def check_topics(self) -> None:
        """Raise :class:`FinishedRecordUnavailable` if an output topic does not exist."""
        self._partitions()

    def close(self) -> None:
        self._consumer.close()

    def _partitions(self) -> list[PartitionKey]:
        metadata = self._admin.list_topics(timeout=self._timeout_s).topics
        keys = []
        for topic in self._topics:
            found = metadata.get(topic)
            if found is None or found.error is not None:
                raise FinishedRecordUnavailable(
                    f"topic {topic!r} does not exist or cannot be described; create the topics "
                    "first (dsa110-stream topics create)"
                )
            keys += [(topic, partition) for partition in sorted(found.partitions)]
        return keys

    def _high_watermarks(self) -> dict[PartitionKey, int]:
        from confluent_kafka.admin import OffsetSpec

        return self._list_offsets(self._partitions(), OffsetSpec.latest())

    def _offsets_for_time(
        self, when: datetime, keys: list[PartitionKey]
    ) -> dict[PartitionKey, int]:
        """First offset stamped at or after ``when`` in each partition, else its start.

        Asked read_uncommitted: a read_committed lookup would not see an event whose
        transaction is still being committed, and the read would start after it.

        Kafka's answer "none" (-1) does not prove that no event is stamped that late: the
        broker searches only the first log segment whose largest timestamp reaches
        ``when``, and once the log cleaner has emptied that segment's batches (the
        aborted transaction of a crashed instance, on the compacted ms-ready topic) it
        answers -1 although later segments hold such events (Kafka 4.1.1; reproduced in
        tests/consumer/test_finished_record.py). Starting at the end there missed
        finished groups, which a restarted consumer then converted and emitted again. So
        such a partition is read from its first offset: at worst the whole compacted
        topic partition, one event per group.
        """
        from confluent_kafka.admin import OffsetSpec

        stamp = int(when.timestamp() * 1000)
        found = self._list_offsets(keys, OffsetSpec.for_timestamp(stamp))
        unresolved = [key for key, offset in found.items() if offset < 0]
        if unresolved:
            found.update(self._list_offsets(unresolved, OffsetSpec.earliest()))
        return found

    def _list_offsets(self, keys: list[PartitionKey], spec: Any) -> dict[PartitionKey, int]:
        """One ListOffsets request (read_uncommitted) for every partition in ``keys``."""
        from confluent_kafka import IsolationLevel, TopicPartition

        futures = self._admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in keys},
            isolation_level=IsolationLevel.READ_UNCOMMITTED,
            request_timeout=self._timeout_s,
        )
        return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}

    def _read(self, ranges: Mapping[PartitionKey, tuple[int, int]], why: str) -> None:
        """Consume every committed event in ``[start, stop)`` of each partition."""
        from confluent_kafka import KafkaError, TopicPartition

        if not ranges:
            return
        started = time.monotonic()
        deadline = started + self._timeout_s
        self._consumer.assign(
            [TopicPartition(t, p, start) for (t, p), (start, _) in ranges.items()]
        )
        pending = {key: stop for key, (_, stop) in ranges.items()}
        read = 0
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise FinishedRecordUnavailable(
                        f"reading the finished record ({why}) did not reach the end of "
                        f"{sorted(pending)} within {self._timeout_s:.0f} s (an open transaction "
                        "of a crashed instance blocks read_committed readers until it times out)"
                    )
                for message in self._consumer.consume(500, timeout=0.2):
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            log.warning("finished-record read error", error=str(error))
                        continue
                    read += 1
                    self._apply(message.value(), message.headers())
                positions = self._consumer.position([TopicPartition(t, p) for t, p in pending])
                for tp in positions:
                    if tp.offset >= pending[(tp.topic, tp.partition)]:
                        del pending[(tp.topic, tp.partition)]
        finally:
            self._consumer.unassign()
        self.events_read += read
        log.info(
            "finished record read",
            why=why,
            events=read,
            groups=self.record.n_groups,
            rejections=self.record.n_rejections,
            seconds=round(time.monotonic() - started, 3),
        )

    def _apply(self, value: bytes | None, headers: Any) -> None:
        from schemas.codec import UndecodableEvent

        try:
            decoded = self._codec.decode(value)
        except UndecodableEvent as exc:
            log.warning("undecodable event in an output topic ignored", error=str(exc))
            return
        apply_output_event(
            self.record, decoded.schema_name, decoded.record, headers, self._input_topic
        )
