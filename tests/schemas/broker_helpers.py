"""Small helpers for the broker tests: create topics from the specs, read messages back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient

from dsa110_stream.settings import TopicSettings
from schemas.topics import TopicStatus, ensure_topics


@contextmanager
def created_topics(
    bootstrap: str, topics: TopicSettings, **layout: Any
) -> Iterator[list[TopicStatus]]:
    """Create the three topics for one test (1 partition, 1 replica unless given); delete after."""
    layout = {"partitions": 1, "replication_factor": 1, **layout}
    try:
        yield ensure_topics({"bootstrap.servers": bootstrap}, topics, **layout)
    finally:
        delete_topics(bootstrap, [topics.subbands, topics.ms_ready, topics.dead_letter])


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, request_timeout=30).values():
        try:
            future.result()
        except Exception as exc:  # a topic the test never created
            if "UNKNOWN_TOPIC" not in str(exc):
                raise


def read_messages(bootstrap: str, topic: str, count: int, max_polls: int = 60) -> list[Message]:
    """Read ``count`` messages from the start of ``topic`` (bounded number of 1 s polls)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-schemas-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    try:
        for _ in range(max_polls):
            message = consumer.poll(1.0)
            if message is None:
                if len(messages) >= count:
                    break
                continue
            if message.error():
                raise RuntimeError(message.error())
            messages.append(message)
    finally:
        consumer.close()
    return messages
