"""Test harness for the consumer: topics, input events, reading results, running the CLI.

Everything here talks to the real broker; the consumer always runs as the real
``dsa110-stream consume`` subprocess (so it can be SIGKILLed for real).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import IsolationLevel, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from dsa110_stream import __version__
from dsa110_stream.settings import TopicSettings
from schemas.codec import EventCodec
from schemas.headers import event_headers
from schemas.topics import ensure_specs, topic_specs

REPO = Path(__file__).resolve().parents[2]
#: ``python -m consumer`` runs exactly ``dsa110-stream consume`` (same parser and code),
#: without importing the other jobs' command modules.
COMMAND = (sys.executable, "-m", "consumer")
PARTITIONS = 3


def create_topics(bootstrap: str, topics: TopicSettings, partitions: int = PARTITIONS) -> None:
    """The three topics as production configures them (compaction, LogAppendTime, ...).

    Except the subbands topic's time limits: simulated dumps are dated 2025 (astropy's
    offline IERS table ends there), which its 14-day acceptance window would refuse and
    its 30-day retention would delete at once (retention counts from observation time).
    """
    specs = topic_specs(topics, partitions=partitions, replication_factor=1)
    relaxed = []
    for spec in specs:
        config = dict(spec.config)
        if spec.name == topics.subbands:
            config.pop("message.timestamp.before.max.ms", None)
            config["retention.ms"] = "-1"
        relaxed.append(type(spec)(spec.name, spec.partitions, spec.replication_factor, config))
    ensure_specs({"bootstrap.servers": bootstrap}, relaxed)


@dataclass(frozen=True)
class InputEvent:
    """One SubbandFile event to publish (or garbage when ``raw`` is set)."""

    group_id: str
    subband: int
    relative_path: str
    filename_timestamp: datetime
    raw: bytes | None = None


def subband_record(event: InputEvent, data_root: Path) -> dict[str, Any]:
    """A SubbandFile record for ``event`` (header values: plausible, unused by the consumer)."""
    path = data_root / event.relative_path
    stat = path.stat() if path.exists() else None
    now = datetime.now(UTC)
    return {
        "event_id": str(uuid.uuid4()),
        "group_id": event.group_id,
        "subband": event.subband,
        "path": str(path),
        "relative_path": event.relative_path,
        "filename_timestamp": event.filename_timestamp,
        "size_bytes": stat.st_size if stat else 0,
        "mtime": datetime.fromtimestamp(stat.st_mtime, UTC) if stat else now,
        "producer_host": socket.gethostname(),
        "producer_version": __version__,
        "detected_at": now,
        "header": {
            "n_times": 24,
            "n_baselines": 10,
            "n_freqs": 8,
            "n_pols": 2,
            "n_antennas_data": 4,
            "freq_min_hz": 1.3e9,
            "freq_max_hz": 1.5e9,
            "time_start_jd": 2460950.9,
            "time_end_jd": 2460950.91,
            "pointing_dec_rad": 0.96,
        },
    }


def publish(
    bootstrap: str,
    topic: str,
    events: Iterable[InputEvent],
    data_root: Path,
    partition: int | None = None,
) -> int:
    """Publish events like the producer does (key = group id, timestamp = observation time).

    ``partition`` forces every event into one partition (default: by key).
    """
    target = -1 if partition is None else partition  # -1: librdkafka's partitioner decides
    codec = EventCodec()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
        }
    )
    count = 0
    for event in events:
        stamp = int(event.filename_timestamp.timestamp() * 1000)
        if event.raw is not None:
            producer.produce(
                topic,
                value=event.raw,
                key=event.group_id.encode(),
                timestamp=stamp,
                partition=target,
            )
        else:
            record = subband_record(event, data_root)
            producer.produce(
                topic,
                value=codec.encode("SubbandFile", record),
                key=event.group_id.encode(),
                timestamp=stamp,
                headers=list(event_headers("SubbandFile", record["event_id"])),
                partition=target,
            )
        count += 1
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} input events not delivered"
    return count


def dump_events(
    dump: Any, data_root: Path, subbands: Sequence[int] | None = None
) -> list[InputEvent]:
    """Input events for one simulated dump (``simulator.DumpTruth``), in subband order."""
    from converter.grouping import format_group_id, parse_subband_filename

    group_id = format_group_id(dump.start_time)
    chosen = sorted(dump.files) if subbands is None else subbands
    events = []
    for sb in chosen:
        path = Path(dump.files[sb])
        events.append(
            InputEvent(
                group_id,
                sb,
                path.relative_to(data_root).as_posix(),
                parse_subband_filename(path).timestamp,
            )
        )
    return events


@dataclass(frozen=True)
class ReadEvent:
    """A decoded event read back from an output topic."""

    schema_name: str
    record: dict[str, Any]
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    items = raw.items() if isinstance(raw, dict) else raw or []
    return [(k, v.encode() if isinstance(v, str) else v or b"") for k, v in items]


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """High watermark of every partition (read_uncommitted)."""
    client = admin(bootstrap)
    partitions = client.list_topics(topic, timeout=10).topics[topic].partitions
    request = {TopicPartition(topic, p): OffsetSpec.latest() for p in partitions}
    futures = client.list_offsets(request, isolation_level=IsolationLevel.READ_UNCOMMITTED)
    return {tp.partition: f.result().offset for tp, f in futures.items()}


def read_events(bootstrap: str, topic: str, timeout: float = 60.0) -> list[ReadEvent]:
    """Every event of ``topic`` visible to a read_committed reader, decoded."""
    from confluent_kafka import Consumer, KafkaError

    ends = end_offsets(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
    pending = {p for p, end in ends.items() if end > 0}
    codec = EventCodec()
    found: list[ReadEvent] = []
    deadline = time.monotonic() + timeout
    try:
        while pending:
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for message in consumer.consume(500, timeout=0.2):
                error = message.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    continue
                decoded = codec.decode(message.value())
                found.append(
                    ReadEvent(
                        decoded.schema_name,
                        decoded.record,
                        message.partition() or 0,
                        message.offset() or 0,
                        message.key(),
                        _headers(message.headers()),
                    )
                )
            for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
    finally:
        consumer.close()
    return found


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The consumer group's committed offsets (stable: waits for pending transactions)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    client = admin(bootstrap)
    partitions = client.list_topics(topic, timeout=10).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])
    futures = client.list_consumer_group_offsets([request], require_stable=True)
    result = futures[group].result()
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def uncommitted(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, int]]:
    """Partitions whose committed offset is short of the end: {partition: (committed, end)}.

    A partition that never held an event has no committed offset, which is fine.
    """
    ends = end_offsets(bootstrap, topic)
    committed = committed_offsets(bootstrap, group, topic)
    return {
        p: (committed.get(p, -1), end)
        for p, end in ends.items()
        if end > 0 and committed.get(p, -1) != end
    }


def reset_offsets(bootstrap: str, group: str, topic: str, offset: int = 0) -> None:
    """What ``kafka-consumer-groups --reset-offsets --to-offset`` does (group must be empty)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    client = admin(bootstrap)
    partitions = client.list_topics(topic, timeout=10).topics[topic].partitions
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p, offset) for p in partitions]
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            client.alter_consumer_group_offsets([request])[group].result()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)  # the group is not empty yet (a member is leaving)


@dataclass
class ConsumerRun:
    """One finished ``dsa110-stream consume`` process."""

    returncode: int
    seconds: float
    log_path: Path
    summary: dict[str, Any] | None = None

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


@dataclass
class ConsumerSetup:
    """How to start consumers of one test (topics, group, directories)."""

    bootstrap: str
    topics: TopicSettings
    group: str
    data_root: Path
    output_dir: Path
    scratch_dir: Path
    log_dir: Path
    settings_env: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    def env(self, crash_at: str | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "DSA110_TOPICS__SUBBANDS": self.topics.subbands,
            "DSA110_TOPICS__MS_READY": self.topics.ms_ready,
            "DSA110_TOPICS__DEAD_LETTER": self.topics.dead_letter,
            "DSA110_SESSION_TIMEOUT_S": "6",
            "DSA110_TRANSACTION_TIMEOUT_S": "10",
            "DSA110_OBSERVABILITY__LOG_JSON": "true",
            **self.settings_env,
        }
        env.pop("DSA110_CRASH_AT", None)
        if crash_at:
            env["DSA110_CRASH_AT"] = crash_at
        return env

    def args(self, instance_id: str, extra: Sequence[str]) -> list[str]:
        return [
            *COMMAND,
            "--bootstrap-servers",
            self.bootstrap,
            "--group",
            self.group,
            "--instance-id",
            instance_id,
            "--data-root",
            str(self.data_root),
            "--output-dir",
            str(self.output_dir),
            "--scratch-dir",
            str(self.scratch_dir),
            *extra,
        ]

    def start(
        self, instance_id: str = "c1", extra: Sequence[str] = (), crash_at: str | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        self.runs += 1
        log_path = self.log_dir / f"run{self.runs:02d}-{instance_id}.log"
        handle = log_path.open("wb")
        process = subprocess.Popen(
            self.args(instance_id, extra),
            env=self.env(crash_at),
            stdout=subprocess.PIPE,
            stderr=handle,
            cwd=REPO,
        )
        handle.close()
        return process, log_path

    def run(
        self,
        instance_id: str = "c1",
        extra: Sequence[str] = ("--idle-exit", "8"),
        crash_at: str | None = None,
        kill_after_s: float | None = None,
        timeout: float = 300.0,
    ) -> ConsumerRun:
        """Run one consumer to its end (exit, planned crash, or our SIGKILL after a delay)."""
        started = time.monotonic()
        process, log_path = self.start(instance_id, extra, crash_at)
        try:
            stdout, _ = process.communicate(timeout=kill_after_s or timeout)
        except subprocess.TimeoutExpired as exc:
            if kill_after_s is None:
                process.kill()
                process.communicate()
                raise AssertionError(
                    f"consumer did not exit within {timeout} s; see {log_path}"
                ) from exc
            process.send_signal(signal.SIGKILL)
            stdout, _ = process.communicate()
        return ConsumerRun(
            process.returncode, time.monotonic() - started, log_path, parse_summary(stdout)
        )


def parse_summary(stdout: bytes | None) -> dict[str, Any] | None:
    for line in (stdout or b"").decode().splitlines()[::-1]:
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)["summary"]
            return summary
    return None


def log_events(log_path: Path, event: str) -> list[dict[str, Any]]:
    """JSON log lines of ``log_path`` whose event is ``event``."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            found.append(record)
    return found


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def by_group(events: Iterable[ReadEvent], schema: str) -> dict[str, list[ReadEvent]]:
    grouped: dict[str, list[ReadEvent]] = {}
    for event in events:
        if event.schema_name == schema and event.record.get("group_id"):
            grouped.setdefault(event.record["group_id"], []).append(event)
    return grouped


def wait_for_log(log_path: Path, event: str, count: int = 1, timeout: float = 120.0) -> None:
    """Wait until ``log_path`` holds ``count`` JSON log lines whose event is ``event``."""
    deadline = time.monotonic() + timeout
    while len(log_events(log_path, event)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {count} × {event!r} in {log_path} within {timeout} s")
        time.sleep(0.5)
