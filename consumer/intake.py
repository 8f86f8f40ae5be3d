"""Intake: fold one input message into its partition's state, or set it aside.

Decode (undecodable → dead letter), check it is a SubbandFile with a valid group id,
make sure the record of finished groups covers its time, classify it
(``PartitionState.classify``), resolve its file under the data root, and either add the
subband to its group, skip it (a re-read), or hold a dead letter for it until the next
transaction. Nothing here talks to Kafka except through the record reader it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from consumer.inputs import InputPathError, resolve_input
from consumer.metrics import ConsumerMetrics
from consumer.outputs import Reason, SourceMessage, message_dead_letter
from consumer.state import (
    FinishedGroup,
    FinishedRecord,
    GroupPolicy,
    PartitionState,
    SubbandEntry,
    Verdict,
)
from schemas.codec import EventCodec, UndecodableEvent

if TYPE_CHECKING:
    from confluent_kafka import Message

log = structlog.get_logger(__name__)

SUBBAND_FILE = "SubbandFile"


@dataclass
class Intake:
    """Everything needed to judge an input message, passed in explicitly."""

    topic: str
    dead_letter_topic: str
    data_root: Path
    policy: GroupPolicy
    codec: EventCodec
    record: FinishedRecord
    #: Makes the record complete for events stamped at or after the given time.
    covers: Callable[[datetime], None]
    #: The finished record of a group as this run sees it (None with --force for older ones).
    finished: Callable[[str], FinishedGroup | None]
    metrics: ConsumerMetrics
    #: The clock a group's timeout counts on (:class:`consumer.reading_clock.ReadingClock`);
    #: the same clock must decide when groups close.
    read_time: Callable[[], float]

    def handle(self, state: PartitionState, message: Message) -> Verdict | None:
        """Fold ``message`` into ``state``; the verdict, or None for a non-SubbandFile."""
        source = source_of(message)
        stamped = message_time(message)
        try:
            decoded = self.codec.decode(message.value())
        except UndecodableEvent as exc:
            self._reject_once(
                state, source, stamped, Reason.UNDECODABLE, f"{exc.code}: {exc}", message
            )
            return None
        if decoded.schema_name != SUBBAND_FILE:
            text = f"expected a SubbandFile event on {self.topic}, got {decoded.schema_name}"
            self._reject_once(state, source, stamped, Reason.UNKNOWN, text, message)
            return None
        return self._subband_event(state, source, stamped, decoded.record, message)

    def _subband_event(
        self,
        state: PartitionState,
        source: SourceMessage,
        stamped: datetime,
        record: dict[str, Any],
        message: Message,
    ) -> Verdict | None:
        from converter.grouping import parse_group_id

        group_id = str(record["group_id"])
        subband = int(record["subband"])
        relative_path = str(record["relative_path"])
        try:
            group_time = parse_group_id(group_id)
        except ValueError:
            text = f"group id {group_id!r} is not YYYY-MM-DDTHH:MM:SS"
            self._reject_once(state, source, stamped, Reason.UNKNOWN, text, message)
            return None
        self.covers(min(group_time, stamped))
        verdict = state.classify(
            group_id,
            subband,
            relative_path,
            expected_subbands=self.policy.expected_subbands,
            finished=self.finished(group_id),
            already_rejected=self.record.is_rejected(self.topic, state.partition, source.offset),
        )
        state.observe(source.offset, group_time)
        self.metrics.events.labels(verdict=str(verdict)).inc()
        context = {"group_id": group_id, "subband": subband, "offset": source.offset}
        if verdict is Verdict.ADD:
            try:
                path = resolve_input(self.data_root, relative_path)
            except InputPathError as exc:
                self._reject(state, source, Reason(exc.reason), exc.message, message, group_id)
                return verdict
            entry = SubbandEntry(subband, source.offset, relative_path, path)
            group = state.add(group_id, group_time, entry, self.read_time())
            log.debug("subband added", n_subbands=len(group.subbands), **context)
        elif verdict in (Verdict.FINISHED, Verdict.ALREADY_REJECTED, Verdict.DUPLICATE):
            log.debug("event skipped", verdict=str(verdict), **context)
        elif verdict is Verdict.LATE:
            text = (
                f"subband {subband} of group {group_id} ({relative_path}) arrived after the "
                "group was closed or finished without it"
            )
            self._reject(state, source, Reason.LATE_SUBBAND, text, message, group_id)
        elif verdict is Verdict.CONFLICT:
            held = state.groups[group_id].subbands[subband].relative_path
            text = (
                f"group {group_id} already has subband {subband} from {held}; "
                f"{relative_path} is a second file for it and is not used"
            )
            self._reject(state, source, Reason.DUPLICATE_FILE, text, message, group_id)
        elif verdict is Verdict.OUT_OF_RANGE:
            text = f"subband {subband} is outside 0..{self.policy.expected_subbands - 1}"
            self._reject(state, source, Reason.OUT_OF_RANGE, text, message, group_id)
        return verdict

    def _reject_once(
        self,
        state: PartitionState,
        source: SourceMessage,
        stamped: datetime,
        reason: Reason,
        text: str,
        message: Message,
    ) -> None:
        """Dead-letter a message that has no group, unless a re-read of one already done."""
        self.covers(stamped)
        state.observe(source.offset, None)
        if self.record.is_rejected(self.topic, state.partition, source.offset):
            return
        self._reject(state, source, reason, text, message, None)

    def _reject(
        self,
        state: PartitionState,
        source: SourceMessage,
        reason: Reason,
        text: str,
        message: Message,
        group_id: str | None,
    ) -> None:
        log.warning(
            "input event dead-lettered",
            reason=str(reason),
            detail=text,
            offset=source.offset,
            partition=source.partition,
            group_id=group_id,
        )
        event = message_dead_letter(
            self.dead_letter_topic,
            reason,
            text,
            source=source,
            original=message.value(),
            group_id=group_id,
        )
        state.reject(source.offset, event)


def source_of(message: Message) -> SourceMessage:
    """Where ``message`` came from, for dead letters that point back at it."""
    kind, stamp = message.timestamp()
    return SourceMessage(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        timestamp_ms=stamp if kind != 0 else None,
    )


def message_time(message: Message) -> datetime:
    """The message's timestamp (observation time), never later than now."""
    kind, stamp = message.timestamp()
    now = datetime.now(UTC)
    if kind == 0:  # TIMESTAMP_NOT_AVAILABLE
        return now
    return min(datetime.fromtimestamp(stamp / 1000, UTC), now)
