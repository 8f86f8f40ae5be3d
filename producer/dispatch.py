"""Turn the producer's decisions into events and account for the broker's confirmations.

A complete file gets its group id here (a second file for the same group and subband is
a DUPLICATE_FILE); it is claimed in the state when handed to Kafka and counted as
published when the broker confirms. Rejected files become dead letters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from converter.grouping import SubbandName
from dsa110_stream.settings import TopicSettings
from producer.admission import Rejection, RejectReason
from producer.completeness import FileStat
from producer.events import ProducerIdentity, dead_letter_event, subband_file_event
from producer.header import HeaderSummary
from producer.metrics import ProducerMetrics
from producer.progress import BootstrapProgress
from producer.publisher import DeliveryReport, Publisher
from producer.state import ProducerState, PublishedFile

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CompleteFile:
    """A file judged complete, with what its event needs."""

    path: Path
    relative_path: str
    name: SubbandName
    stat: FileStat
    header: HeaderSummary
    bootstrap: bool


class Dispatcher:
    """Publishes complete files and dead-letters rejected ones through one publisher."""

    def __init__(
        self,
        publisher: Publisher,
        state: ProducerState,
        topics: TopicSettings,
        metrics: ProducerMetrics,
        progress: BootstrapProgress,
        identity: ProducerIdentity,
    ) -> None:
        self._publisher = publisher
        self._state = state
        self._topics = topics
        self._metrics = metrics
        self._progress = progress
        self._identity = identity
        #: Unix time of the last confirmed SubbandFile event.
        self.last_publish: float | None = None

    def publish(self, file: CompleteFile) -> None:
        """Assign the group id and send the SubbandFile event (or a DUPLICATE_FILE)."""
        name = file.name
        group_id, owner = self._state.assign(file.relative_path, name)
        if owner is not None:
            rejection = Rejection(
                RejectReason.DUPLICATE_FILE,
                f"{file.path}: group {group_id} already has subband {name.subband:02d} "
                f"from {owner}",
            )
            self.reject(file.path, file.relative_path, rejection, bootstrap=file.bootstrap,
                        group_id=group_id)
            return
        event = subband_file_event(
            path=file.path,
            relative_path=file.relative_path,
            group_id=group_id,
            subband=name.subband,
            filename_timestamp=name.timestamp,
            stat=file.stat,
            header=file.header,
            identity=self._identity,
            detected_at=datetime.now(UTC),
        )
        self._state.record_published(
            PublishedFile(file.relative_path, group_id, name.subband, name.timestamp, file.stat)
        )
        log.debug("publishing", group_id=group_id, subband=name.subband, path=str(file.path))
        self._publisher.send(
            self._topics.subbands, event, lambda report: self._on_published(report, file)
        )

    def reject(
        self,
        path: Path,
        relative_path: str,
        rejection: Rejection,
        *,
        bootstrap: bool,
        group_id: str | None = None,
    ) -> None:
        """Record the rejection and send the DeadLetter event."""
        self._state.record_rejected(relative_path, rejection.reason.value)
        log.warning("file rejected", reason=rejection.reason.value, path=str(path),
                    message=rejection.message, group_id=group_id)
        event = dead_letter_event(rejection=rejection, path=path, identity=self._identity,
                                  failed_at=datetime.now(UTC), group_id=group_id)
        self._publisher.send(
            self._topics.dead_letter,
            event,
            lambda report: self._on_dead_lettered(report, rejection, bootstrap),
        )

    def _on_published(self, report: DeliveryReport, file: CompleteFile) -> None:
        if report.error is None:
            self._metrics.files_published.inc()
            self._metrics.publish_latency.observe(report.latency_seconds)
            self.last_publish = time.time()
            self._metrics.last_publish.set(self.last_publish)
            log.info("published", group_id=report.event.key, subband=file.name.subband,
                     path=str(file.path), partition=report.partition, offset=report.offset)
            self._progress.settle(file.bootstrap)
            return
        self._state.release(file.relative_path)
        rejection = Rejection(
            RejectReason.OUT_OF_RANGE,
            f"{file.path}: the broker refused its event ({report.error}); is the "
            "observation time outside the range the subbands topic accepts "
            "(message.timestamp.before/after.max.ms)? Convert such files in batch mode.",
        )
        self.reject(file.path, file.relative_path, rejection, bootstrap=file.bootstrap,
                    group_id=report.event.key)

    def _on_dead_lettered(
        self, report: DeliveryReport, rejection: Rejection, bootstrap: bool
    ) -> None:
        if report.error is None:
            self._metrics.files_rejected.labels(reason=rejection.reason.value).inc()
        else:
            log.error("the broker refused a dead letter; the rejection is only in this log",
                      reason=rejection.reason.value, message=rejection.message,
                      error=report.error)
        self._progress.settle(bootstrap)
