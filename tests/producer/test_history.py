"""State rebuilt from the topics: which events are read back, by observation time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from dsa110_stream.settings import TopicSettings
from producer.admission import Rejection, RejectReason
from producer.completeness import FileStat
from producer.events import ProducerIdentity, dead_letter_event, subband_file_event
from producer.header import HeaderSummary
from producer.history import HistoryWindow, history_window, read_history
from producer.watcher import ScannedFile
from schemas.codec import EventCodec
from schemas.headers import event_headers
from schemas.topics import ensure_topics

NOW = datetime.now(UTC).replace(microsecond=0)
HEADER = HeaderSummary(4, 10, 48, 2, 4, 1.3e9, 1.31e9, 2461000.5, 2461000.51, 0.96)
IDENTITY = ProducerIdentity("test-host", "0.0.0")


def test_window_reaches_back_from_the_oldest_file_on_disk() -> None:
    old = NOW - timedelta(days=5)
    scanned = [
        ScannedFile(Path(f"/in/{old:%Y-%m-%dT%H:%M:%S}_sb00.hdf5"),
                    FileStat(1, int((NOW - timedelta(days=1)).timestamp() * 1e9))),
        ScannedFile(Path("/in/junk.hdf5"), FileStat(1, int((NOW - timedelta(days=3)).timestamp()
                                                           * 1e9))),
        ScannedFile(Path(f"/in/{NOW:%Y-%m-%dT%H:%M:%S}_sb01.hdf5"), None),
    ]
    window = history_window(scanned, NOW, timedelta(hours=48))
    assert window.subbands_since == old - timedelta(hours=48)
    assert window.dead_letters_since == NOW - timedelta(days=3) - timedelta(hours=48)
    empty = history_window([], NOW, timedelta(hours=48))
    assert empty.subbands_since == empty.dead_letters_since == NOW - timedelta(hours=48)


def _subband_event(name: str, observed: datetime, group_id: str, subband: int):
    return subband_file_event(
        path=Path("/data/incoming") / name, relative_path=f"incoming/{name}", group_id=group_id,
        subband=subband, filename_timestamp=observed, stat=FileStat(100, 10**18),
        header=HEADER, identity=IDENTITY, detected_at=NOW,
    )


@pytest.mark.broker
def test_history_is_selected_by_observation_time(
    kafka_bootstrap: str, topic_settings: TopicSettings
) -> None:
    ensure_topics({"bootstrap.servers": kafka_bootstrap}, topic_settings, 3, 1)
    codec = EventCodec()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    five_days = NOW - timedelta(days=5)
    one_day = NOW - timedelta(days=1)
    old = _subband_event("a_sb00.hdf5", five_days, f"{five_days:%Y-%m-%dT%H:%M:%S}", 0)
    recent = _subband_event("b_sb03.hdf5", one_day, f"{one_day:%Y-%m-%dT%H:%M:%S}", 3)
    old_after_recent = _subband_event("e_sb01.hdf5", five_days,
                                      f"{five_days:%Y-%m-%dT%H:%M:%S}", 1)
    # Partition 0: the old observation alone. Partition 1: a recent observation, then (a
    # backlog published later) an old one, which a reader from the recent one also gets.
    for event, partition in ((old, 0), (recent, 1), (old_after_recent, 1)):
        headers: list[tuple[str, str | bytes | None]] = list(
            event_headers(event.schema_name, event.event_id)
        )
        producer.produce(topic_settings.subbands, codec.encode(event.schema_name, event.record),
                         key=event.key, timestamp=event.timestamp_ms, partition=partition,
                         headers=headers)
        producer.flush(30)
    ours = dead_letter_event(
        rejection=Rejection(RejectReason.CORRUPT_FILE, "truncated"),
        path=Path("/data/incoming/c_sb01.hdf5"), identity=IDENTITY, failed_at=NOW,
    )
    consumers = dead_letter_event(
        rejection=Rejection(RejectReason.MISSING_FILE, "gone"),
        path=Path("/data/incoming/d_sb02.hdf5"), identity=IDENTITY, failed_at=NOW,
    )
    consumers.record["source_topic"] = topic_settings.subbands
    for event in (ours, consumers):
        producer.produce(topic_settings.dead_letter,
                         codec.encode(event.schema_name, event.record), key=event.key)
    producer.produce(topic_settings.subbands, b"not an event", timestamp=int(NOW.timestamp()
                                                                             * 1000))
    assert producer.flush(30) == 0
    config = {"bootstrap.servers": kafka_bootstrap}

    everything = read_history(config, topic_settings, codec,
                              HistoryWindow(NOW - timedelta(days=6), NOW - timedelta(days=1)))
    assert sorted(p.relative_path for p in everything.published) == [
        "incoming/a_sb00.hdf5", "incoming/b_sb03.hdf5", "incoming/e_sb01.hdf5"
    ]
    assert everything.rejected == [("/data/incoming/c_sb01.hdf5", "CORRUPT_FILE")]
    assert everything.undecodable == 1
    first = next(p for p in everything.published if p.subband == 0)
    assert first.group_id == f"{five_days:%Y-%m-%dT%H:%M:%S}"
    assert first.stat == FileStat(100, 10**18)

    since_two_days = read_history(
        config, topic_settings, codec,
        # Dead letters are stamped with their append time: none is that recent.
        HistoryWindow(NOW - timedelta(days=2), datetime.now(UTC) + timedelta(minutes=5)),
    )
    assert sorted(p.relative_path for p in since_two_days.published) == [
        "incoming/b_sb03.hdf5", "incoming/e_sb01.hdf5"
    ]
    assert since_two_days.rejected == []
