"""The records the producer publishes: SubbandFile and DeadLetter (schemas/avro)."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsa110_stream import __version__
from producer.admission import Rejection
from producer.completeness import FileStat
from producer.header import HeaderSummary


@dataclass(frozen=True)
class ProducerIdentity:
    """Who wrote an event: host (pod) name and software version."""

    host: str
    version: str

    @classmethod
    def here(cls) -> ProducerIdentity:
        return cls(host=socket.gethostname(), version=__version__)


@dataclass(frozen=True)
class OutgoingEvent:
    """One event ready to encode: schema, record, key and Kafka timestamp (ms, or None = now)."""

    schema_name: str
    record: dict[str, Any]
    key: str | None
    timestamp_ms: int | None

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])


def subband_file_event(
    *,
    path: Path,
    relative_path: str,
    group_id: str,
    subband: int,
    filename_timestamp: datetime,
    stat: FileStat,
    header: HeaderSummary,
    identity: ProducerIdentity,
    detected_at: datetime,
) -> OutgoingEvent:
    """A SubbandFile event keyed by group id and stamped with the observation time."""
    record = {
        "event_id": str(uuid.uuid4()),
        "group_id": group_id,
        "subband": subband,
        "path": str(path),
        "relative_path": relative_path,
        "filename_timestamp": filename_timestamp,
        "size_bytes": stat.size,
        "mtime": datetime.fromtimestamp(stat.mtime_ns / 1e9, tz=UTC),
        "producer_host": identity.host,
        "producer_version": identity.version,
        "detected_at": detected_at,
        "header": header.as_record(),
    }
    timestamp_ms = int(filename_timestamp.timestamp() * 1000)
    return OutgoingEvent("SubbandFile", record, key=group_id, timestamp_ms=timestamp_ms)


def dead_letter_event(
    *,
    rejection: Rejection,
    path: Path,
    identity: ProducerIdentity,
    failed_at: datetime,
    group_id: str | None = None,
) -> OutgoingEvent:
    """A DeadLetter event for a file the producer will not publish (key: group id, else path)."""
    record = {
        "event_id": str(uuid.uuid4()),
        "reason": rejection.reason.value,
        "message": rejection.message,
        "group_id": group_id,
        "path": str(path),
        "attempts": 1,
        "failed_at": failed_at,
        "producer_host": identity.host,
        "producer_version": identity.version,
    }
    return OutgoingEvent("DeadLetter", record, key=group_id or str(path), timestamp_ms=None)
