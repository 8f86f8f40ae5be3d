"""Read-only access to the cluster for the operator commands.

Everything here only *looks*: offsets come from the admin API, messages are read by a
consumer that is only ever ``assign()``-ed (it never joins a consumer group and never
commits), so running ``status`` or a dry run cannot disturb the consumers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confluent_kafka import Message


class ClusterError(RuntimeError):
    """The cluster could not answer (missing topic, timeout); the message says what to do."""


@dataclass(frozen=True)
class Watermarks:
    """Offsets bounding one partition.

    ``low``: first offset still in the log; ``high``: the next offset to be written (the
    high watermark); ``stable``: the last stable offset, where a ``read_committed`` reader
    stops (below ``high`` while a transaction is open).
    """

    low: int
    high: int
    stable: int


@dataclass(frozen=True)
class GroupMember:
    """One member of a consumer group, as the group coordinator describes it."""

    client_id: str
    host: str
    partitions: tuple[int, ...]


@dataclass(frozen=True)
class GroupDescription:
    """State of a consumer group (``DEAD`` for a group that does not exist)."""

    group_id: str
    state: str
    members: tuple[GroupMember, ...]


class ClusterReader:
    """Offsets, group descriptions and message ranges of one cluster, without side effects."""

    def __init__(self, client_config: Mapping[str, Any], timeout_s: float = 30.0) -> None:
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient

        self._timeout_s = timeout_s
        self.admin = AdminClient(dict(client_config))
        # A group id is mandatory for a librdkafka consumer, but this one only assign()s and
        # never commits, so the (unique) group never appears on the broker.
        self._consumer = Consumer(
            {
                **client_config,
                "group.id": f"dsa110-operations-{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> ClusterReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def partitions(self, topic: str) -> list[int]:
        """Partition ids of ``topic``; raises :class:`ClusterError` when it does not exist."""
        from confluent_kafka import KafkaException

        try:
            metadata = self.admin.list_topics(topic, timeout=self._timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise ClusterError(
                f"cannot reach the Kafka cluster: {exc}; check --bootstrap-servers / "
                "DSA110_KAFKA__BOOTSTRAP_SERVERS and the network"
            ) from exc
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise ClusterError(
                f"topic {topic!r} does not exist on this cluster: check the topic names "
                "(--config / DSA110_TOPICS__*) and the bootstrap servers"
            )
        return sorted(metadata.partitions)

    def watermarks(self, topic: str, partitions: Sequence[int]) -> dict[int, Watermarks]:
        """Low, high and last-stable offsets of each partition."""
        from confluent_kafka import IsolationLevel
        from confluent_kafka.admin import OffsetSpec

        low = self._list_offsets(topic, partitions, OffsetSpec.earliest())
        high = self._list_offsets(topic, partitions, OffsetSpec.latest())
        stable = self._list_offsets(
            topic, partitions, OffsetSpec.latest(), IsolationLevel.READ_COMMITTED
        )
        return {p: Watermarks(low[p], high[p], stable[p]) for p in partitions}

    def offsets_for_time(
        self, topic: str, partitions: Sequence[int], when: datetime
    ) -> dict[int, int | None]:
        """First offset of each partition whose message timestamp is at or after ``when``.

        None where no message is stamped that late. For our topics the timestamp is the
        observation time, so this selects by observation time.
        """
        from confluent_kafka.admin import OffsetSpec

        stamp_ms = int(when.timestamp() * 1000)
        found = self._list_offsets(topic, partitions, OffsetSpec.for_timestamp(stamp_ms))
        return {p: (offset if offset >= 0 else None) for p, offset in found.items()}

    def committed(
        self, group_id: str, topic: str, partitions: Sequence[int]
    ) -> dict[int, int | None]:
        """The consumer group's committed offset per partition (None: nothing committed)."""
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

        request = ConsumerGroupTopicPartitions(
            group_id, [TopicPartition(topic, p) for p in partitions]
        )
        try:
            result = self.admin.list_consumer_group_offsets(
                [request], request_timeout=self._timeout_s
            )[group_id].result()
        except KafkaException as exc:
            raise ClusterError(
                f"cannot read the offsets of consumer group {group_id!r}: {exc}"
            ) from exc
        offsets: dict[int, int | None] = {}
        for tp in result.topic_partitions:
            if tp.error is not None:
                raise ClusterError(
                    f"cannot read the committed offset of {topic}[{tp.partition}] for "
                    f"group {group_id!r}: {tp.error}"
                )
            offsets[tp.partition] = tp.offset if tp.offset >= 0 else None
        return offsets

    def describe_group(self, group_id: str) -> GroupDescription:
        """The group's state and members (state ``DEAD``, no members, when it does not exist)."""
        from confluent_kafka import KafkaException

        try:
            found = self.admin.describe_consumer_groups(
                [group_id], request_timeout=self._timeout_s
            )[group_id].result()
        except KafkaException as exc:
            raise ClusterError(
                f"cannot describe consumer group {group_id!r}: {exc} (is the cluster "
                "reachable? check --bootstrap-servers / DSA110_KAFKA__BOOTSTRAP_SERVERS)"
            ) from exc
        members = tuple(
            GroupMember(
                client_id=member.client_id,
                host=member.host,
                partitions=tuple(
                    sorted(tp.partition for tp in (member.assignment.topic_partitions or []))
                )
                if member.assignment is not None
                else (),
            )
            for member in found.members
        )
        return GroupDescription(group_id=group_id, state=found.state.name, members=members)

    def read(self, topic: str, ranges: Mapping[int, tuple[int, int]]) -> Iterator[Message]:
        """Yield every committed message in ``[start, stop)`` of each partition, in offset order
        per partition.

        ``stop`` must not exceed the partition's last stable offset, or the read waits for
        messages that do not exist and ends in a :class:`ClusterError` after the timeout.
        """
        from confluent_kafka import KafkaError, TopicPartition

        pending = {p: stop for p, (start, stop) in ranges.items() if start < stop}
        if not pending:
            return
        self._consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in pending])
        deadline = time.monotonic() + self._timeout_s
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"reading {topic} made no progress for {self._timeout_s:.0f} s on "
                        f"partitions {sorted(pending)}; try again, or raise --timeout"
                    )
                for message in self._consumer.consume(500, timeout=0.5):
                    partition = message.partition()
                    if partition not in pending:
                        continue
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            del pending[partition]
                            continue
                        raise ClusterError(f"error reading {topic}[{partition}]: {error}")
                    offset = message.offset()
                    assert offset is not None  # set on every message without an error
                    if offset < pending[partition]:
                        yield message
                    if offset >= pending[partition] - 1:
                        del pending[partition]
                    deadline = time.monotonic() + self._timeout_s
                # Commit markers and aborted records have offsets but are never delivered:
                # a partition whose range ends with them is finished by its position.
                positions = self._consumer.position([TopicPartition(topic, p) for p in pending])
                for tp in positions:
                    if tp.offset >= pending.get(tp.partition, tp.offset + 1):
                        del pending[tp.partition]
        finally:
            self._consumer.unassign()

    def _list_offsets(
        self, topic: str, partitions: Sequence[int], spec: Any, isolation: Any = None
    ) -> dict[int, int]:
        from confluent_kafka import KafkaException, TopicPartition

        kwargs: dict[str, Any] = {"request_timeout": self._timeout_s}
        if isolation is not None:
            kwargs["isolation_level"] = isolation
        futures = self.admin.list_offsets(
            {TopicPartition(topic, p): spec for p in partitions}, **kwargs
        )
        try:
            return {tp.partition: future.result().offset for tp, future in futures.items()}
        except KafkaException as exc:
            raise ClusterError(f"cannot list the offsets of {topic}: {exc}") from exc
