"""The three topics and how they are configured; idempotent creation and comparison.

Why these settings (details in ``schemas/README.md``): the Kafka message timestamp of
``subbands`` and ``ms-ready`` events is the OBSERVATION time (``CreateTime``, set by the
producer), so time-based retention counts from the observation, not from ingestion.

* ``subbands``: delete after 30 days; the broker refuses observation times more than 14 days
  in the past (``message.timestamp.before.max.ms``), so every accepted event stays at least
  16 days, enough for a backlog of days plus a replay window of two weeks. Older data is
  refused loudly at produce time instead of being deleted silently minutes after it is
  written; convert such archives with the converter's batch mode.
* ``ms-ready``: compacted by group id, kept forever: the durable record of every finished
  group, newest revision per group (one small record per group, ~100 k per year).
  ``min.compaction.lag.ms`` keeps superseded revisions readable for 7 days.
* ``dead-letter``: delete after 90 days counted from when the failure was recorded
  (``LogAppendTime``), whatever the observation time of the failed input.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from dsa110_stream.settings import ServiceSettings, TopicSettings

DAY_MS = 24 * 3600 * 1000

SUBBANDS_RETENTION_MS = 30 * DAY_MS
SUBBANDS_MAX_AGE_MS = 14 * DAY_MS
MS_READY_MIN_COMPACTION_LAG_MS = 7 * DAY_MS
DEAD_LETTER_RETENTION_MS = 90 * DAY_MS
#: How far in the future an observation time may be (clock skew between hosts).
MAX_FUTURE_MS = 3600 * 1000
#: A dead letter carries the failed message verbatim, so it may be larger than any input.
DEAD_LETTER_MAX_MESSAGE_BYTES = 2 * 1024 * 1024

DEFAULT_PARTITIONS = 12
DEFAULT_REPLICATION_FACTOR = 3


def default_min_insync_replicas(replication_factor: int) -> int:
    """2 for three or more replicas (one broker may be down, writes stay durable), else 1."""
    return 2 if replication_factor >= 3 else 1


class TopicLayout(BaseModel):
    """Partitioning and replication of the three topics."""

    partitions: int = Field(
        DEFAULT_PARTITIONS,
        ge=1,
        description="Partitions per topic: the most consumer pods that can convert in parallel.",
    )
    replication_factor: int = Field(
        DEFAULT_REPLICATION_FACTOR, ge=1, description="Replicas of every partition."
    )
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        description="Replicas that must acknowledge a write (acks=all); None: 2 when the "
        "replication factor is 3 or more, else 1.",
    )


class TopicAdminSettings(ServiceSettings):
    """Settings of ``dsa110-stream topics``: cluster, topic names and their layout."""

    layout: TopicLayout = Field(default_factory=TopicLayout)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TopicSpec:
    """The desired shape of one topic."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]
    purpose: str = ""


@dataclass(frozen=True)
class TopicStatus:
    """How an existing (or missing) topic compares with its spec."""

    spec: TopicSpec
    exists: bool
    partitions: int | None = None
    replication_factor: int | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    created: bool = False
    altered: tuple[str, ...] = ()

    @property
    def differences(self) -> tuple[str, ...]:
        """Human-readable list of what differs from the spec (empty when it matches)."""
        if not self.exists:
            return ("missing",)
        found = []
        if self.partitions != self.spec.partitions:
            found.append(f"partitions: want {self.spec.partitions}, have {self.partitions}")
        if self.replication_factor != self.spec.replication_factor:
            found.append(
                f"replication factor: want {self.spec.replication_factor}, "
                f"have {self.replication_factor}"
            )
        for key, wanted in sorted(self.spec.config.items()):
            have = self.config.get(key)
            if have != wanted:
                found.append(f"{key}: want {wanted}, have {have}")
        return tuple(found)


def topic_specs(
    topics: TopicSettings,
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = DEFAULT_REPLICATION_FACTOR,
    min_insync_replicas: int | None = None,
) -> list[TopicSpec]:
    """Specs of the subbands, ms-ready and dead-letter topics (see module docstring)."""
    if partitions < 1 or replication_factor < 1:
        raise ValueError("partitions and replication factor must be at least 1")
    min_isr = min_insync_replicas or default_min_insync_replicas(replication_factor)
    if min_isr > replication_factor:
        raise ValueError(
            f"min.insync.replicas {min_isr} exceeds the replication factor {replication_factor}"
        )
    durability = {"min.insync.replicas": str(min_isr), "unclean.leader.election.enable": "false"}
    observation_time = {
        "message.timestamp.type": "CreateTime",
        "message.timestamp.after.max.ms": str(MAX_FUTURE_MS),
    }
    return [
        TopicSpec(
            topics.subbands,
            partitions,
            replication_factor,
            {
                **durability,
                **observation_time,
                "cleanup.policy": "delete",
                "retention.ms": str(SUBBANDS_RETENTION_MS),
                "message.timestamp.before.max.ms": str(SUBBANDS_MAX_AGE_MS),
                "segment.ms": str(DAY_MS),
            },
            "SubbandFile events, key = group id, timestamp = observation time",
        ),
        TopicSpec(
            topics.ms_ready,
            partitions,
            replication_factor,
            {
                **durability,
                **observation_time,
                "cleanup.policy": "compact",
                "min.compaction.lag.ms": str(MS_READY_MIN_COMPACTION_LAG_MS),
                "segment.ms": str(DAY_MS),
            },
            "MeasurementSetReady events, key = group id, compacted: latest revision per group",
        ),
        TopicSpec(
            topics.dead_letter,
            partitions,
            replication_factor,
            {
                **durability,
                "cleanup.policy": "delete",
                "message.timestamp.type": "LogAppendTime",
                "retention.ms": str(DEAD_LETTER_RETENTION_MS),
                "max.message.bytes": str(DEAD_LETTER_MAX_MESSAGE_BYTES),
            },
            "DeadLetter events, timestamp = time of failure (broker append time)",
        ),
    ]


def describe_topics(
    admin_config: Mapping[str, Any], specs: Sequence[TopicSpec], timeout: float = 30.0
) -> list[TopicStatus]:
    """Compare the cluster's topics with ``specs``; nothing is changed."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(dict(admin_config))
    return _describe(admin, specs, timeout)


def ensure_topics(
    admin_config: Mapping[str, Any],
    topics: TopicSettings,
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = DEFAULT_REPLICATION_FACTOR,
    *,
    min_insync_replicas: int | None = None,
    alter_configs: bool = False,
    timeout: float = 30.0,
) -> list[TopicStatus]:
    """Create the missing topics; report (or, with ``alter_configs``, fix) configs that differ.

    Idempotent: run it as often as you like; existing topics are never deleted and their
    partition count is never changed (more partitions would move group ids to other
    partitions while groups are open). Raises ``confluent_kafka.KafkaException`` when a
    topic cannot be created or configured.
    """
    specs = topic_specs(topics, partitions, replication_factor, min_insync_replicas)
    return ensure_specs(admin_config, specs, alter_configs=alter_configs, timeout=timeout)


def ensure_specs(
    admin_config: Mapping[str, Any],
    specs: Sequence[TopicSpec],
    *,
    alter_configs: bool = False,
    timeout: float = 30.0,
) -> list[TopicStatus]:
    """:func:`ensure_topics` for explicit specs."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(dict(admin_config))
    before = {status.spec.name: status for status in _describe(admin, specs, timeout)}
    missing = [spec for spec in specs if not before[spec.name].exists]
    created = set()
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=spec.replication_factor,
                    config=dict(spec.config),
                )
                for spec in missing
            ],
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.add(name)
            except KafkaException as exc:
                # Another instance created it between our describe and create: fine.
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    if created:
        _wait_until_visible(admin, created, timeout)
    altered: dict[str, tuple[str, ...]] = {}
    if alter_configs:
        altered = _alter_differing_configs(admin, list(before.values()), timeout)
    after = _describe(admin, specs, timeout)
    return [
        TopicStatus(
            spec=status.spec,
            exists=status.exists,
            partitions=status.partitions,
            replication_factor=status.replication_factor,
            config=status.config,
            created=status.spec.name in created,
            altered=altered.get(status.spec.name, ()),
        )
        for status in after
    ]


def wait_for_topics(
    admin_config: Mapping[str, Any], names: Iterable[str], timeout: float = 30.0
) -> None:
    """Block until the cluster's metadata lists ``names`` with leaders (after a create)."""
    from confluent_kafka.admin import AdminClient

    _wait_until_visible(AdminClient(dict(admin_config)), set(names), timeout)


def _wait_until_visible(admin: Any, names: set[str], timeout: float) -> None:
    # A created topic reaches every broker's metadata cache a moment after CreateTopics
    # returns; describing it before then would report it missing.
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        pending = {
            name
            for name in names
            if name not in topics
            or topics[name].error is not None
            or any(p.leader < 0 for p in topics[name].partitions.values())
        }
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {sorted(pending)} not visible after {timeout} s")
        time.sleep(0.2)


def _alter_differing_configs(
    admin: Any, statuses: Sequence[TopicStatus], timeout: float
) -> dict[str, tuple[str, ...]]:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    changes: dict[str, tuple[str, ...]] = {}
    resources = []
    for status in statuses:
        if not status.exists:
            continue
        keys = tuple(
            key
            for key, value in sorted(status.spec.config.items())
            if status.config.get(key) != value
        )
        if keys:
            entries = [
                ConfigEntry(
                    key, status.spec.config[key], incremental_operation=AlterConfigOpType.SET
                )
                for key in keys
            ]
            resources.append(ConfigResource("topic", status.spec.name, incremental_configs=entries))
            changes[status.spec.name] = keys
    if resources:
        for future in admin.incremental_alter_configs(resources, request_timeout=timeout).values():
            future.result()
    return changes


def _describe(admin: Any, specs: Sequence[TopicSpec], timeout: float) -> list[TopicStatus]:
    from confluent_kafka.admin import ConfigResource

    metadata = admin.list_topics(timeout=timeout).topics
    present = [
        spec for spec in specs if spec.name in metadata and metadata[spec.name].error is None
    ]
    configs: dict[str, dict[str, str]] = {}
    if present:
        futures = admin.describe_configs(
            [ConfigResource("topic", spec.name) for spec in present], request_timeout=timeout
        )
        for resource, future in futures.items():
            entries = future.result()
            configs[resource.name] = {
                key: entry.value for key, entry in entries.items() if entry.value is not None
            }
    statuses = []
    for spec in specs:
        if spec not in present:
            statuses.append(TopicStatus(spec=spec, exists=False))
            continue
        partitions = metadata[spec.name].partitions
        replicas = {len(p.replicas) for p in partitions.values()}
        statuses.append(
            TopicStatus(
                spec=spec,
                exists=True,
                partitions=len(partitions),
                replication_factor=min(replicas) if replicas else None,
                config=configs.get(spec.name, {}),
            )
        )
    return statuses
