"""Every event through a real topic on the local broker, with headers and timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, KafkaError, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from schemas.codec import (
    BadMagicByte,
    EventCodec,
    TruncatedPayload,
    UndecodableEvent,
    UnknownSchemaId,
)
from schemas.golden import SAMPLE_RECORDS
from schemas.headers import event_headers, parse_headers
from tests.schemas.broker_helpers import created_topics, read_messages

pytestmark = pytest.mark.broker


def _producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})


def _produce(
    producer: Producer,
    topic: str,
    value: bytes,
    key: bytes,
    timestamp_ms: int,
    headers: Sequence[tuple[str, str | bytes | None]] | None = None,
) -> None:
    errors: list[KafkaError] = []

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    producer.produce(
        topic,
        value=value,
        key=key,
        timestamp=timestamp_ms,
        headers=list(headers or ()),
        on_delivery=report,
    )
    assert producer.flush(30) == 0
    if errors:
        raise RuntimeError(errors[0])


def _recent(record: dict, hours: float = 1.0) -> tuple[dict, int]:
    """The sample shifted to an observation time ``hours`` ago (inside retention)."""
    observed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)
    shifted = {**record}
    for key in ("filename_timestamp", "time_start"):
        if key in shifted:
            shifted[key] = observed
    return shifted, int(observed.timestamp() * 1000)


@pytest.mark.parametrize("codec_kind", ["local-ids", "schema-registry"])
def test_every_event_round_trips_through_its_topic(kafka_bootstrap, topic_settings, codec_kind):
    if codec_kind == "local-ids":
        writer, reader = EventCodec(), EventCodec()
    else:
        registry = SchemaRegistryClient.new_client({"url": "mock://roundtrip"})
        writer = EventCodec(registry_client=registry)
        reader = EventCodec(registry_client=registry)
    topic_of = {
        "SubbandFile": topic_settings.subbands,
        "MeasurementSetReady": topic_settings.ms_ready,
        "DeadLetter": topic_settings.dead_letter,
    }
    producer = _producer(kafka_bootstrap)
    with created_topics(kafka_bootstrap, topic_settings):
        sent = {}
        for name, topic in topic_of.items():
            record, observed_ms = _recent(dict(SAMPLE_RECORDS[name]))
            key = (record.get("group_id") or "none").encode()
            _produce(
                producer,
                topic,
                writer.encode(name, record),
                key,
                observed_ms,
                event_headers(name, record["event_id"]),
            )
            sent[name] = (record, key, observed_ms)
        for name, topic in topic_of.items():
            [message] = read_messages(kafka_bootstrap, topic, 1)
            record, key, observed_ms = sent[name]
            event = reader.decode(message.value())
            assert event.schema_name == name
            assert event.record == record
            assert message.key() == key
            raw_headers = message.headers()
            assert isinstance(raw_headers, list)
            headers = parse_headers(raw_headers)
            assert headers.event_id == record["event_id"]
            assert headers.schema_name_lower == name.lower()
            kind, timestamp = message.timestamp()
            if name == "DeadLetter":  # broker time: retention counts from the failure
                assert kind == TIMESTAMP_LOG_APPEND_TIME and timestamp > observed_ms
            else:  # observation time
                assert (kind, timestamp) == (TIMESTAMP_CREATE_TIME, observed_ms)


def test_undecodable_payloads_from_a_topic_raise_typed_errors(kafka_bootstrap, topic_settings):
    codec = EventCodec()
    valid = codec.encode("SubbandFile", SAMPLE_RECORDS["SubbandFile"])
    payloads = {
        b"json": (b'{"subband": 3}', BadMagicByte),
        b"unknown-id": (b"\x00\x00\x00\x30\x39" + valid[5:], UnknownSchemaId),
        b"truncated": (valid[: len(valid) // 2], TruncatedPayload),
        b"empty": (b"", TruncatedPayload),
    }
    producer = _producer(kafka_bootstrap)
    _, now_ms = _recent({}, hours=0.5)
    with created_topics(kafka_bootstrap, topic_settings):
        for key, (value, _) in payloads.items():
            _produce(producer, topic_settings.subbands, value, key, now_ms)
        messages = read_messages(kafka_bootstrap, topic_settings.subbands, len(payloads))
        assert len(messages) == len(payloads)
        for message in messages:
            message_key = message.key()
            assert message_key is not None
            _, expected = payloads[message_key]
            with pytest.raises(expected) as caught:
                codec.decode(message.value())
            assert isinstance(caught.value, UndecodableEvent)


def test_subbands_topic_refuses_observation_times_beyond_its_replay_window(
    kafka_bootstrap, topic_settings
):
    """Older than 14 days would be deleted by retention soon: refused loudly instead."""
    codec = EventCodec()
    producer = _producer(kafka_bootstrap)
    record, _ = _recent(dict(SAMPLE_RECORDS["SubbandFile"]))
    data = codec.encode("SubbandFile", record)
    too_old = int((datetime.now(UTC) - timedelta(days=20)).timestamp() * 1000)
    year_ago = int((datetime.now(UTC) - timedelta(days=365)).timestamp() * 1000)
    with created_topics(kafka_bootstrap, topic_settings):
        with pytest.raises(RuntimeError, match=r"INVALID_TIMESTAMP|[Tt]imestamp"):
            _produce(producer, topic_settings.subbands, data, b"g", too_old)
        # ms-ready is compacted, so a replay of a year-old group is accepted and kept.
        msr = codec.encode("MeasurementSetReady", SAMPLE_RECORDS["MeasurementSetReady"])
        _produce(_producer(kafka_bootstrap), topic_settings.ms_ready, msr, b"g", year_ago)
        [message] = read_messages(kafka_bootstrap, topic_settings.ms_ready, 1)
        assert message.timestamp() == (TIMESTAMP_CREATE_TIME, year_ago)
