"""Kafka message headers that travel with every event.

Headers let tools and operators filter and trace events without decoding the Avro body:

``content-type``
    ``application/vnd.dsa110.<name>+avro; wire=confluent`` (e.g.
    ``application/vnd.dsa110.subbandfile+avro; wire=confluent``): the schema name and the
    Confluent wire format (magic byte, schema id, Avro binary).
``event-id``
    The record's ``event_id`` (UUID text), so duplicates can be spotted from headers alone.
``producer-version``
    dsa110-stream version of the process that wrote the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dsa110_stream import __version__

CONTENT_TYPE = "content-type"
EVENT_ID = "event-id"
PRODUCER_VERSION = "producer-version"

_CONTENT_TYPE_VALUE = re.compile(r"^application/vnd\.dsa110\.(?P<name>[a-z0-9]+)\+avro\b")


def content_type(schema_name: str) -> str:
    """Content type of an event of ``schema_name`` in the Confluent wire format."""
    return f"application/vnd.dsa110.{schema_name.lower()}+avro; wire=confluent"


def event_headers(
    schema_name: str, event_id: str, producer_version: str = __version__
) -> list[tuple[str, bytes]]:
    """Headers to send with an event (pass to ``Producer.produce(headers=...)``)."""
    return [
        (CONTENT_TYPE, content_type(schema_name).encode()),
        (EVENT_ID, str(event_id).encode()),
        (PRODUCER_VERSION, producer_version.encode()),
    ]


@dataclass(frozen=True)
class EventHeaders:
    """Headers of a received message; fields are None when the header is absent."""

    content_type: str | None
    event_id: str | None
    producer_version: str | None

    @property
    def schema_name_lower(self) -> str | None:
        """Lower-cased schema name from the content type, e.g. ``"subbandfile"``."""
        if self.content_type is None:
            return None
        match = _CONTENT_TYPE_VALUE.match(self.content_type)
        return match["name"] if match else None


def parse_headers(headers: Iterable[tuple[str, bytes | str | None]] | None) -> EventHeaders:
    """Read our headers from ``Message.headers()`` (which may be None); the last value wins."""
    values: dict[str, str] = {}
    for key, value in headers or ():
        if value is None:
            continue
        values[key] = value.decode(errors="replace") if isinstance(value, bytes) else value
    return EventHeaders(
        content_type=values.get(CONTENT_TYPE),
        event_id=values.get(EVENT_ID),
        producer_version=values.get(PRODUCER_VERSION),
    )
