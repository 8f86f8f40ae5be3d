"""The record of finished groups, read from real topics: open transactions, old events."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import IsolationLevel, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from consumer.finished import FinishedRecordReader
from consumer.outputs import Reason, SourceMessage, group_dead_letter
from consumer.state import FinishedRecord, FinishKind
from schemas.codec import EventCodec
from tests.consumer.harness import create_topics

pytestmark = pytest.mark.broker

T0 = datetime(2025, 10, 2, 10, 0, 0, tzinfo=UTC)


def dead_letter_for(topics, group_time):
    group_id = group_time.strftime("%Y-%m-%dT%H:%M:%S")
    source = SourceMessage(topics.subbands, 0, 0, None, None)
    return group_dead_letter(
        topics.dead_letter,
        group_id,
        group_time,
        Reason.INCOMPLETE_GROUP,
        "test",
        source=source,
        subbands=[1],
        attempts=1,
    )


def ms_ready_record(group_id):
    now = datetime.now(UTC)
    return {
        "event_id": str(uuid.uuid4()),
        "group_id": group_id,
        "ms_path": "/x.ms",
        "subbands_present": [0, 1],
        "subbands_missing": [],
        "n_rows": 1,
        "n_channels": 1,
        "freq_min_hz": 1.0,
        "freq_max_hz": 2.0,
        "time_start": now,
        "time_end": now,
        "phase_center_ra_rad": 0.0,
        "phase_center_dec_rad": 0.0,
        "pointing_dec_rad": 0.0,
        "stage_seconds": {},
        "input_files": [],
        "software_version": "t",
        "attempt": 1,
        "revision": 1,
        "replay": False,
        "reused": False,
        "produced_at": now,
    }


def reader_for(bootstrap, topics, record):
    return FinishedRecordReader(
        {"bootstrap.servers": bootstrap},
        input_topic=topics.subbands,
        output_topics=(topics.ms_ready, topics.dead_letter),
        reader_group=f"test-reader-{uuid.uuid4().hex[:8]}",
        record=record,
        codec=EventCodec(),
        lookback=timedelta(hours=1),
        timeout_s=60,
    )


def test_reader_waits_for_a_transaction_still_being_committed(kafka_bootstrap, topic_settings):
    """An event below the high watermark is waited for, not missed, while its txn is open."""
    create_topics(kafka_bootstrap, topic_settings)
    codec = EventCodec()
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"t-{uuid.uuid4().hex}"}
    )
    producer.init_transactions()
    producer.begin_transaction()
    stamp = int(T0.timestamp() * 1000)
    producer.produce(
        topic_settings.ms_ready,
        codec.encode("MeasurementSetReady", ms_ready_record("g-open")),
        key=b"g-open",
        timestamp=stamp,
    )
    producer.flush()
    committer = threading.Timer(3.0, producer.commit_transaction)
    committer.start()
    record = FinishedRecord()
    reader = reader_for(kafka_bootstrap, topic_settings, record)
    started = time.monotonic()
    reader.ensure_covers(T0)
    waited = time.monotonic() - started
    committer.join()
    reader.close()
    finished = record.group("g-open")
    assert finished is not None and finished.kind is FinishKind.MS_READY
    assert waited >= 2.0  # it really waited for the commit instead of reading up to the LSO


def test_reader_extends_backwards_for_older_groups(kafka_bootstrap, topic_settings):
    create_topics(kafka_bootstrap, topic_settings)
    codec = EventCodec()
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    old, new = T0 - timedelta(days=3), T0
    for when in (old, new):
        event = dead_letter_for(topic_settings, when)
        group_id = when.strftime("%Y-%m-%dT%H:%M:%S")
        producer.produce(
            topic_settings.ms_ready,
            codec.encode("MeasurementSetReady", ms_ready_record(group_id)),
            key=group_id.encode(),
            timestamp=int(when.timestamp() * 1000),
        )
        producer.produce(
            event.topic,
            codec.encode(event.schema_name, event.record),
            key=event.key,
            headers=list(event.headers),
        )
    producer.flush()
    record = FinishedRecord()
    reader = reader_for(kafka_bootstrap, topic_settings, record)
    reader.ensure_covers(new)
    assert reader.covered_from == new - timedelta(hours=1)
    # Both dead letters (append time = now) are covered; only the recent MS-ready is.
    ms_groups = {
        g
        for g in (old, new)
        if (f := record.group(g.strftime("%Y-%m-%dT%H:%M:%S"))) and f.kind is FinishKind.MS_READY
    }
    assert ms_groups == {new}
    reader.ensure_covers(old)
    assert reader.covered_from == old - timedelta(hours=1)
    finished_old = record.group(old.strftime("%Y-%m-%dT%H:%M:%S"))
    assert finished_old is not None and finished_old.kind is FinishKind.MS_READY
    reader.close()


def test_reader_finds_groups_behind_a_segment_the_cleaner_emptied(kafka_bootstrap, topic_settings):
    """A crashed instance's aborted transaction, once the log cleaner has removed it,
    leaves a segment whose batches are empty: Kafka's time lookup stops there and
    answers "no event that late" although a later segment holds a committed group.
    The reader must still find that group (else a restart converts it again)."""
    create_topics(kafka_bootstrap, topic_settings)  # compacted, segment.ms 1 day, as deployed
    codec = EventCodec()
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"t-{uuid.uuid4().hex}"}
    )
    producer.init_transactions()
    for group_time, commit in ((T0, False), (T0 + timedelta(minutes=5), True)):
        group_id = group_time.strftime("%Y-%m-%dT%H:%M:%S")
        producer.begin_transaction()
        producer.produce(
            topic_settings.ms_ready,
            codec.encode("MeasurementSetReady", ms_ready_record(group_id)),
            key=group_id.encode(),
            partition=0,
            timestamp=int(T0.timestamp() * 1000),
        )
        producer.flush()  # on the broker, as a crashed instance's records are
        if commit:
            producer.commit_transaction()
        else:  # the abort marker is stamped now, over a day after the event: the segment rolls
            producer.abort_transaction()
    committed_group = (T0 + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    before = int((T0 - timedelta(hours=1)).timestamp() * 1000)
    partition = TopicPartition(topic_settings.ms_ready, 0)
    deadline = time.monotonic() + 120  # the cleaner wakes every 15 s
    while True:
        futures = admin.list_offsets(
            {partition: OffsetSpec.for_timestamp(before)},
            isolation_level=IsolationLevel.READ_UNCOMMITTED,
        )
        if futures[partition].result().offset < 0:
            break  # the cleaner emptied the first segment: the lookup now finds nothing
        assert time.monotonic() < deadline, (
            "the log cleaner did not empty the aborted transaction's segment within 120 s; "
            "this broker's time lookup may no longer stop there"
        )
        time.sleep(1.0)

    record = FinishedRecord()
    reader = reader_for(kafka_bootstrap, topic_settings, record)
    reader.ensure_covers(T0)
    reader.close()
    finished = record.group(committed_group)
    assert finished is not None and finished.kind is FinishKind.MS_READY
    assert record.group(T0.strftime("%Y-%m-%dT%H:%M:%S")) is None  # the aborted one
