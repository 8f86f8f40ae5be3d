"""A zombie's transaction is refused by the group coordinator (KIP-447), not just skipped."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from consumer.checkpoint import FinishAborted, TransactionalCheckpointer
from consumer.crashpoints import CrashPoints
from consumer.outputs import Reason, SourceMessage, message_dead_letter
from schemas.codec import EventCodec
from tests.consumer.harness import committed_offsets, create_topics, read_events

pytestmark = pytest.mark.broker


def member(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 7000,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )
    consumer.subscribe([topic])
    return consumer


def wait_assigned(consumer: Consumer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not consumer.assignment():
        assert time.monotonic() < deadline, "no assignment"
        consumer.poll(0.2)


def test_owner_that_lost_its_partition_cannot_commit_its_finish(kafka_bootstrap, topic_settings):
    create_topics(kafka_bootstrap, topic_settings, partitions=1)
    group = f"test-fencing-{uuid.uuid4().hex[:8]}"
    zombie = member(kafka_bootstrap, group, topic_settings.subbands)
    wait_assigned(zombie)
    checkpoint = TransactionalCheckpointer(
        {"bootstrap.servers": kafka_bootstrap},
        f"test-zombie-{uuid.uuid4().hex[:8]}",
        10.0,
        zombie,
        EventCodec(),
        CrashPoints(),
    )
    # The zombie stops polling (a long GC pause, a frozen VM); the heir takes over.
    heir = member(kafka_bootstrap, group, topic_settings.subbands)
    wait_assigned(heir)
    event = message_dead_letter(
        topic_settings.dead_letter,
        Reason.UNKNOWN,
        "written by a zombie",
        source=SourceMessage(topic_settings.subbands, 0, 0, None, None),
        original=None,
    )

    with pytest.raises(FinishAborted, match=r"UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION"):
        checkpoint.finish([event], [TopicPartition(topic_settings.subbands, 0, 1)])

    assert read_events(kafka_bootstrap, topic_settings.dead_letter) == []
    assert committed_offsets(kafka_bootstrap, group, topic_settings.subbands) == {0: -1001}
    checkpoint.close()
    heir.close()
    zombie.close()
