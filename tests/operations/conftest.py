"""Fixtures for the operator-command tests: topics on the real broker, event writers, the CLI."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from consumer.outputs import SUBBANDS_HEADER
from converter.grouping import format_group_id
from dsa110_stream.settings import TopicSettings
from operations.cli import register
from schemas.codec import EventCodec
from schemas.golden import SAMPLE_RECORDS
from schemas.headers import event_headers
from schemas.topics import ensure_topics


def group_id_at(when: datetime) -> str:
    return format_group_id(when)


@dataclass
class Cluster:
    """One test's topics on the broker, with writers for the three kinds of events."""

    bootstrap: str
    topics: TopicSettings
    config_file: Path
    codec: EventCodec

    # ------------------------------------------------------------------ writing events

    def publish_subbands(
        self, partition: int, group_time: datetime, subbands: Iterable[int]
    ) -> list[int]:
        """SubbandFile events of one group (key = group id, timestamp = file time); offsets."""
        group_id = group_id_at(group_time)
        producer = self._producer()
        offsets: list[int] = []
        for subband in subbands:
            stamp = group_time + timedelta(seconds=subband % 5)  # the correlator's jitter
            record = subband_record(group_id, subband, stamp)
            producer.produce(
                self.topics.subbands,
                key=group_id.encode(),
                value=self.codec.encode("SubbandFile", record),
                partition=partition,
                timestamp=int(stamp.timestamp() * 1000),
                headers=_headers("SubbandFile", record["event_id"]),
                on_delivery=_collect_offset(offsets),
            )
        _flush(producer)
        return offsets

    def publish_ms_ready(
        self,
        partition: int,
        group_time: datetime,
        *,
        present: Sequence[int],
        stage_seconds: Mapping[str, float],
        produced_at: datetime,
        reused: bool = False,
        abort: bool = False,
    ) -> None:
        """One MeasurementSetReady event in its own transaction (aborted when ``abort``)."""
        group_id = group_id_at(group_time)
        record = {
            **SAMPLE_RECORDS["MeasurementSetReady"],
            "event_id": str(uuid.uuid4()),
            "group_id": group_id,
            "ms_path": f"/data/ms/{group_id}.ms",
            "subbands_present": sorted(present),
            "subbands_missing": sorted(set(range(16)) - set(present)),
            "stage_seconds": dict(stage_seconds),
            "reused": reused,
            "produced_at": produced_at,
        }
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "transactional.id": f"test-operations-{uuid.uuid4().hex[:8]}",
            }
        )
        producer.init_transactions(30)
        producer.begin_transaction()
        producer.produce(
            self.topics.ms_ready,
            key=group_id.encode(),
            value=self.codec.encode("MeasurementSetReady", record),
            partition=partition,
            timestamp=int(group_time.timestamp() * 1000),
            headers=_headers("MeasurementSetReady", record["event_id"]),
        )
        if abort:
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)

    def publish_dead_letter(
        self,
        partition: int,
        *,
        reason: str,
        message: str,
        failed_at: datetime,
        group_time: datetime | None = None,
        subbands: Sequence[int] = (),
        from_consumer: bool = True,
    ) -> None:
        """One DeadLetter: a consumer's (source = the subbands topic) or a producer's."""
        group_id = group_id_at(group_time) if group_time is not None else None
        record = {
            **SAMPLE_RECORDS["DeadLetter"],
            "event_id": str(uuid.uuid4()),
            "reason": reason,
            "message": message,
            "source_topic": self.topics.subbands if from_consumer else None,
            "source_partition": partition if from_consumer else None,
            "source_offset": 0 if from_consumer else None,
            "key": group_id.encode() if group_id else None,
            "original": None,
            "group_id": group_id,
            "path": None if from_consumer else "/data/incoming/bad_sb03.hdf5",
            "failed_at": failed_at,
        }
        headers = _headers("DeadLetter", record["event_id"])
        if subbands:
            headers.append((SUBBANDS_HEADER, ",".join(map(str, subbands)).encode()))
        producer = self._producer()
        producer.produce(
            self.topics.dead_letter,
            key=(group_id or "bad_sb03.hdf5").encode(),
            value=self.codec.encode("DeadLetter", record),
            partition=partition,
            headers=headers,
        )
        _flush(producer)

    # ------------------------------------------------------------------ offsets

    def commit(self, group: str, offsets: Mapping[int, int]) -> None:
        """Commit ``offsets`` (partition → offset) for ``group``, as a consumer would."""
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        try:
            consumer.commit(
                offsets=[TopicPartition(self.topics.subbands, p, o) for p, o in offsets.items()],
                asynchronous=False,
            )
        finally:
            consumer.close()

    def committed(self, group: str, partitions: Sequence[int]) -> dict[int, int | None]:
        """The group's committed offsets as the broker reports them."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(self.topics.subbands, p) for p in partitions]
        )
        result = admin.list_consumer_group_offsets([request], request_timeout=30)[group].result()
        return {
            tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in result.topic_partitions
        }

    def _producer(self) -> Producer:
        return Producer(
            {"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all"}
        )


def subband_record(group_id: str, subband: int, stamp: datetime) -> dict[str, Any]:
    name = f"{stamp.strftime('%Y-%m-%dT%H:%M:%S')}_sb{subband:02d}.hdf5"
    return {
        **SAMPLE_RECORDS["SubbandFile"],
        "event_id": str(uuid.uuid4()),
        "group_id": group_id,
        "subband": subband,
        "path": f"/data/incoming/{name}",
        "relative_path": name,
        "filename_timestamp": stamp,
        "detected_at": stamp + timedelta(minutes=5),
        "mtime": stamp + timedelta(minutes=5),
    }


def _headers(schema_name: str, event_id: str) -> list[tuple[str, str | bytes | None]]:
    return [*event_headers(schema_name, event_id)]


def _collect_offset(offsets: list[int]) -> Any:
    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            raise AssertionError(f"delivery failed: {error}")
        offsets.append(message.offset())

    return delivered


def _flush(producer: Producer) -> None:
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} message(s) not delivered"


@pytest.fixture
def cluster(
    kafka_bootstrap: str, topic_settings: TopicSettings, tmp_path: Path
) -> Iterator[Cluster]:
    """The three topics (3 partitions each) for one test, deleted afterwards."""
    ensure_topics(
        {"bootstrap.servers": kafka_bootstrap}, topic_settings, partitions=3, replication_factor=1
    )
    config = tmp_path / "consumer.yaml"
    config.write_text(
        "topics:\n"
        f"  subbands: {topic_settings.subbands}\n"
        f"  ms_ready: {topic_settings.ms_ready}\n"
        f"  dead_letter: {topic_settings.dead_letter}\n"
        "observability:\n"
        "  log_level: WARNING\n"
    )
    yield Cluster(kafka_bootstrap, topic_settings, config, EventCodec())
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    names = [topic_settings.subbands, topic_settings.ms_ready, topic_settings.dead_letter]
    for future in admin.delete_topics(names, request_timeout=30).values():
        future.result()


@pytest.fixture
def consumer_group() -> str:
    return f"test-operations-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def recent_base() -> datetime:
    """An observation time one hour ago (the topics refuse times older than 14 days)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``dsa110-stream <argv>`` in-process against the test's topics."""

    def run(*argv: str) -> CliResult:
        parser = argparse.ArgumentParser(prog="dsa110-stream")
        register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(
            [
                *argv,
                "--config",
                str(cluster.config_file),
                "--bootstrap-servers",
                cluster.bootstrap,
            ]
        )
        capsys.readouterr()
        code = args.func(args)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
