"""The events the consumer emits, built from plain values: MS-ready and dead letters.

Pure functions; the checkpoint module sends the :class:`OutputEvent` objects built here.
Every event that *finishes a group* is keyed by the group id and stamped with the
group's observation time (the Kafka message timestamp), like the subband events, so
that Kafka's time index finds it from the observation time (see ``finished.py``).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsa110_stream import __version__
from schemas.headers import event_headers

if TYPE_CHECKING:
    from converter.options import ConversionResult

MS_READY = "MeasurementSetReady"
DEAD_LETTER = "DeadLetter"

#: Extra header on group-level dead letters: the subbands the group had, comma-separated.
#: The record of finished groups needs them to tell a re-read from a late subband.
SUBBANDS_HEADER = "dsa110-subbands-present"


class Reason(StrEnum):
    """Dead-letter reasons the consumer uses (symbols of the DeadLetterReason enum)."""

    UNDECODABLE = "UNDECODABLE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    OUTSIDE_DATA_ROOT = "OUTSIDE_DATA_ROOT"
    MISSING_FILE = "MISSING_FILE"
    DUPLICATE_FILE = "DUPLICATE_FILE"
    INCOMPLETE_GROUP = "INCOMPLETE_GROUP"
    LATE_SUBBAND = "LATE_SUBBAND"
    CONVERSION_FAILED = "CONVERSION_FAILED"
    UNKNOWN = "UNKNOWN"


#: Reasons that finish a whole group (the others concern one input message).
GROUP_REASONS = frozenset({Reason.INCOMPLETE_GROUP, Reason.CONVERSION_FAILED})


@dataclass(frozen=True)
class OutputEvent:
    """One message to produce: the Avro record plus where and how it goes."""

    topic: str
    schema_name: str
    record: Mapping[str, Any]
    key: bytes | None
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])


@dataclass(frozen=True)
class SourceMessage:
    """Where an input message came from, for dead letters that point back at it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int | None


def group_timestamp_ms(group_time: datetime) -> int:
    """Kafka timestamp (ms since the epoch) of a group's observation time."""
    return int(group_time.timestamp() * 1000)


def ms_ready_event(
    topic: str,
    group_id: str,
    group_time: datetime,
    result: ConversionResult,
    *,
    attempt: int,
    revision: int,
    replay: bool,
) -> OutputEvent:
    """The MeasurementSetReady event of a converted (or reused) group."""
    event_id = str(uuid.uuid4())
    record = {
        "event_id": event_id,
        "group_id": group_id,
        "ms_path": str(Path(result.ms_path).resolve()),
        "subbands_present": sorted(int(sb) for sb in result.subbands_present),
        "subbands_missing": sorted(int(sb) for sb in result.subbands_missing),
        "n_rows": int(result.n_rows),
        "n_channels": int(result.n_channels),
        "freq_min_hz": float(result.freq_min_hz),
        "freq_max_hz": float(result.freq_max_hz),
        "time_start": result.time_start,
        "time_end": result.time_end,
        "phase_center_ra_rad": float(result.phase_center_ra_rad),
        "phase_center_dec_rad": float(result.phase_center_dec_rad),
        "pointing_dec_rad": float(result.pointing_dec_rad),
        "stage_seconds": {str(k): float(v) for k, v in result.stage_seconds.items()},
        "input_files": [
            {"path": str(f.path), "size_bytes": int(f.size_bytes), "mtime": f.mtime}
            for f in result.input_files
        ],
        "software_version": str(result.software_version),
        "attempt": attempt,
        "revision": revision,
        "replay": replay,
        "reused": bool(result.reused),
        "produced_at": datetime.now(UTC),
    }
    return OutputEvent(
        topic=topic,
        schema_name=MS_READY,
        record=record,
        key=group_id.encode(),
        timestamp_ms=group_timestamp_ms(group_time),
        headers=tuple(event_headers(MS_READY, event_id)),
    )


def group_dead_letter(
    topic: str,
    group_id: str,
    group_time: datetime,
    reason: Reason,
    message: str,
    *,
    source: SourceMessage,
    subbands: Iterable[int],
    attempts: int,
) -> OutputEvent:
    """A dead letter that finishes a whole group (too few subbands, conversion failed)."""
    if reason not in GROUP_REASONS:
        raise ValueError(f"{reason} does not finish a group")
    present = ",".join(str(sb) for sb in sorted(subbands))
    return _dead_letter(
        topic,
        reason,
        message,
        source=source,
        group_id=group_id,
        path=None,
        original=None,
        attempts=attempts,
        key=group_id.encode(),
        timestamp_ms=group_timestamp_ms(group_time),
        extra_headers=((SUBBANDS_HEADER, present.encode()),),
    )


def message_dead_letter(
    topic: str,
    reason: Reason,
    message: str,
    *,
    source: SourceMessage,
    original: bytes | None,
    group_id: str | None = None,
    path: str | None = None,
) -> OutputEvent:
    """A dead letter for one input message (undecodable, bad path, late, duplicate...)."""
    if reason in GROUP_REASONS:
        raise ValueError(f"{reason} concerns a group, not one message")
    return _dead_letter(
        topic,
        reason,
        message,
        source=source,
        group_id=group_id,
        path=path,
        original=original,
        attempts=1,
        key=source.key,
        timestamp_ms=source.timestamp_ms,
        extra_headers=(),
    )


def _dead_letter(
    topic: str,
    reason: Reason,
    message: str,
    *,
    source: SourceMessage,
    group_id: str | None,
    path: str | None,
    original: bytes | None,
    attempts: int,
    key: bytes | None,
    timestamp_ms: int | None,
    extra_headers: tuple[tuple[str, bytes], ...],
) -> OutputEvent:
    event_id = str(uuid.uuid4())
    record = {
        "event_id": event_id,
        "reason": str(reason),
        "message": message,
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
        "key": source.key,
        "original": original,
        "group_id": group_id,
        "path": path,
        "attempts": attempts,
        "failed_at": datetime.now(UTC),
        "producer_host": socket.gethostname(),
        "producer_version": __version__,
    }
    return OutputEvent(
        topic=topic,
        schema_name=DEAD_LETTER,
        record=record,
        key=key,
        timestamp_ms=timestamp_ms,
        headers=(*event_headers(DEAD_LETTER, event_id), *extra_headers),
    )
