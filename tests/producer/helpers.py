"""Helpers of the producer tests: small simulated dumps, a producer in a thread, the topic
read back."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry

from converter.telescope import DUMP_SECONDS
from dsa110_stream.settings import TopicSettings
from producer.service import ProducerService
from producer.settings import ProducerSettings
from schemas.codec import EventCodec
from simulator import SimulationConfig, SimulationResult, simulate


def recent_start(hours_ago: float = 6.0) -> datetime:
    """A dump start a few hours ago, on a whole minute (well inside the topic's window)."""
    start = datetime.now(UTC) - timedelta(hours=hours_ago)
    return start.replace(second=0, microsecond=0)


def small_config(**overrides: Any) -> SimulationConfig:
    """4 antennas, 4 integrations: files of ~70 kB with the correlator layout.

    The integrations are stretched so that dumps keep the real ~309 s cadence, which the
    grouping rule depends on.
    """
    n_times = overrides.get("n_times", 4)
    values: dict[str, Any] = {
        "n_antennas": 4,
        "n_times": n_times,
        "integration_time_s": DUMP_SECONDS / n_times,
        "start": recent_start(),
        "seed": 7,
    }
    values.update(overrides)
    return SimulationConfig(**values)


def simulate_into(directory: Path, config: SimulationConfig) -> SimulationResult:
    """Simulate into ``directory``, keeping the truth file outside it."""
    truth = directory.parent / f"{directory.name}-{uuid.uuid4().hex[:6]}.truth.json"
    return simulate(directory, config, truth_path=truth)


def link_backlog(
    template: dict[int, Path], directory: Path, first_start: datetime, n_dumps: int
) -> list[Path]:
    """Hard-link one dump's files under the jittered names of ``n_dumps`` dumps (a backlog
    that costs no disk space); returns the new paths."""
    rng = random.Random(0)
    paths = []
    for dump in range(n_dumps):
        start = first_start + timedelta(seconds=dump * DUMP_SECONDS)
        for subband, source in template.items():
            stamp = start + timedelta(seconds=rng.uniform(0, 10))
            path = directory / f"{stamp:%Y-%m-%dT%H:%M:%S}_sb{subband:02d}.hdf5"
            os.link(source, path)
            paths.append(path)
    return paths


def producer_settings(
    input_dir: Path, bootstrap: str, topics: TopicSettings, **overrides: Any
) -> ProducerSettings:
    """Settings for a test producer: quick stability rules, a 1-replica test topic layout."""
    values: dict[str, Any] = {
        "input_dir": input_dir,
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": topics,
        "stable_seconds": 2.0,
        "corrupt_after_seconds": 3.0,
        "poll_seconds": 0.5,
        "rescan_seconds": 5.0,
        "shutdown_timeout_seconds": 60.0,
        "layout": {"partitions": 3, "replication_factor": 1},
    }
    values.update(overrides)
    return ProducerSettings(**values)


class ProducerThread:
    """A producer service running in a thread of the test process."""

    #: Producers started by the current test (for :func:`wait_until` to notice crashes).
    running: ClassVar[list[ProducerThread]] = []

    def __init__(self, settings: ProducerSettings, *, once: bool = False) -> None:
        self.service = ProducerService(settings, registry=CollectorRegistry())
        self.result: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(once,), daemon=True)
        ProducerThread.running.append(self)
        self._thread.start()

    def _run(self, once: bool) -> None:
        try:
            self.result = self.service.run(once=once)
        except BaseException as exc:
            self.error = exc
            raise

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 90.0) -> int:
        """Stop (as SIGTERM would), wait, and return the exit status."""
        self.service.stop()
        return self.join(timeout)

    def join(self, timeout: float = 90.0) -> int:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "producer did not stop"
        assert self.error is None, f"producer crashed: {self.error!r}"
        assert self.result is not None
        return self.result


@dataclass(frozen=True)
class Event:
    schema_name: str
    record: dict[str, Any]
    key: str | None
    timestamp_ms: int
    partition: int
    offset: int


def read_events(bootstrap: str, topic: str) -> list[Event]:
    """Every event in ``topic`` now, decoded, in (partition, offset) order.

    Retries the broker's transient answers (a new topic's leaders are being elected).
    """
    deadline = time.monotonic() + 60
    while True:
        try:
            return _read_events_once(bootstrap, topic)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _read_events_once(bootstrap: str, topic: str) -> list[Event]:
    codec = EventCodec()
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        if metadata.error is not None:
            return []
        ends = {}
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=30
            )
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        events = []
        deadline = time.monotonic() + 60
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                if message.error() is not None:
                    continue
                decoded = codec.decode(message.value())
                key = message.key()
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                events.append(Event(
                    decoded.schema_name, decoded.record, key.decode() if key else None,
                    message.timestamp()[1], partition, offset,
                ))
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
        assert not ends, f"could not read {topic} to its end"
        return sorted(events, key=lambda e: (e.partition, e.offset))
    finally:
        consumer.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds, or at
    once if a producer thread of this test has crashed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        crashed = [p.error for p in ProducerThread.running if p.error is not None]
        if crashed:
            raise AssertionError(f"producer crashed while waiting for {what}: {crashed[0]!r}")
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def subband_events(bootstrap: str, topics: TopicSettings) -> list[Event]:
    return read_events(bootstrap, topics.subbands)


def dead_letters(bootstrap: str, topics: TopicSettings) -> list[Event]:
    return read_events(bootstrap, topics.dead_letter)
