"""From open groups to finish events: close, convert in workers, retry, or dead-letter.

Works on the partitions' :class:`~consumer.state.OpenGroup` objects: a group that is due
(complete or timed out) is queued for conversion or, with too few subbands, given its
INCOMPLETE_GROUP dead letter; queued groups go to free workers oldest first; a worker's
result becomes the group's MS-ready event, a transient failure a later retry (exponential
backoff), the last or a permanent failure a CONVERSION_FAILED dead letter. The events are
sent later, by the service's transaction; a failure is never turned into an MS-ready.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from consumer.crashpoints import CrashPoints
from consumer.metrics import ConsumerMetrics
from consumer.outputs import Reason, SourceMessage, group_dead_letter, ms_ready_event
from consumer.settings import ConsumerSettings
from consumer.state import (
    CloseAction,
    FinishedRecord,
    GroupPolicy,
    OpenGroup,
    PartitionState,
    Phase,
    backoff_s,
    close_action,
)
from consumer.workers import ConversionFailure, ConversionJob, WorkerPool

if TYPE_CHECKING:
    from converter.options import ConversionResult

log = structlog.get_logger(__name__)


@dataclass
class ConversionCounts:
    """What the conversions of one run did."""

    converted: int = 0
    reused: int = 0
    failed_attempts: int = 0


@dataclass
class GroupConversions:
    """Closes due groups, runs their conversions, and turns outcomes into finish events."""

    settings: ConsumerSettings
    policy: GroupPolicy
    pool: WorkerPool
    record: FinishedRecord
    crash: CrashPoints
    metrics: ConsumerMetrics
    counts: ConversionCounts = field(default_factory=ConversionCounts)
    _jobs: dict[int, tuple[int, str]] = field(default_factory=dict)
    _job_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def running(self) -> int:
        return len(self._jobs)

    def close_due(
        self, partitions: Mapping[int, PartitionState], now: float, read_time: float
    ) -> None:
        """Queue complete or timed-out groups; dead-letter those with too few subbands.

        ``read_time`` is the reading clock's time (what group timeouts count on), ``now``
        the monotonic time (what retries are scheduled on).
        """
        for state in partitions.values():
            for group, reason in state.due(read_time, self.policy):
                group.close_reason = reason
                action = close_action(group, reason, self.policy)
                missing = group.missing(self.policy.expected_subbands)
                log.info(
                    "group closed",
                    group_id=group.group_id,
                    reason=str(reason),
                    action=str(action),
                    n_subbands=len(group.subbands),
                    missing=missing,
                )
                if action is CloseAction.CONVERT:
                    group.phase = Phase.QUEUED
                    group.not_before = now
                    continue
                text = (
                    f"group {group.group_id} closed ({reason}) with {len(group.subbands)} of "
                    f"{self.policy.expected_subbands} subbands, fewer than min_subbands="
                    f"{self.policy.min_subbands}; missing {missing}"
                )
                self._dead_letter(state, group, Reason.INCOMPLETE_GROUP, text)

    def dispatch(self, partitions: Mapping[int, PartitionState], now: float) -> None:
        """Hand queued groups whose retry time has come to free workers, oldest first."""
        queued = [
            (state, group)
            for state in partitions.values()
            for group in state.groups.values()
            if group.phase is Phase.QUEUED and group.not_before <= now
        ]
        queued.sort(key=lambda item: (item[1].group_time, item[1].first_offset))
        for state, group in queued[: max(self.pool.free_slots, 0)]:
            self.crash.reached("before_convert")
            job_id = next(self._job_ids)
            group.job_id = job_id
            group.attempts += 1
            group.phase = Phase.CONVERTING
            self.pool.submit(job_id, self._job(group))
            self._jobs[job_id] = (state.partition, group.group_id)
            log.info(
                "conversion started",
                group_id=group.group_id,
                attempt=group.attempts,
                n_subbands=len(group.subbands),
            )

    def _job(self, group: OpenGroup) -> ConversionJob:
        settings = self.settings
        return ConversionJob(
            group_id=group.group_id,
            files=tuple(group.paths()),
            output=settings.output_dir / f"{group.group_id}.ms",
            scratch_dir=settings.scratch_dir,
            expected_subbands=self.policy.expected_subbands,
            antenna_positions=settings.antenna_positions,
            imaging_columns=settings.imaging_columns,
            force=settings.forces(group.group_id),
            attempt=group.attempts,
            kill_consumer_after_s=self.crash.planned_delay("mid_convert"),
        )

    def collect(self, partitions: Mapping[int, PartitionState], now: float) -> None:
        """Take the workers' results; results for groups no longer owned are discarded."""
        for done in self.pool.collect():
            partition, group_id = self._jobs.pop(done.job_id, (-1, done.job.group_id))
            state = partitions.get(partition)
            group = state.groups.get(group_id) if state is not None else None
            if state is None or group is None or group.job_id != done.job_id:
                log.info(
                    "conversion result discarded: the partition was revoked meanwhile",
                    group_id=group_id,
                )
                continue
            if isinstance(done.outcome, ConversionFailure):
                self._failed(state, group, done.outcome, now)
            else:
                self._succeeded(group, done.outcome)

    def _succeeded(self, group: OpenGroup, result: ConversionResult) -> None:
        self.crash.reached("after_rename")
        previous = self.record.group(group.group_id)
        group.finish = ms_ready_event(
            self.settings.topics.ms_ready,
            group.group_id,
            group.group_time,
            result,
            attempt=group.attempts,
            revision=previous.revision + 1 if previous is not None else 1,
            replay=previous is not None,
        )
        group.phase = Phase.FINISHING
        self.metrics.conversions.labels(result="reused" if result.reused else "converted").inc()
        self.metrics.observe_stages(result.stage_seconds)
        if result.reused:
            self.counts.reused += 1
        else:
            self.counts.converted += 1
        log.info(
            "conversion succeeded",
            group_id=group.group_id,
            ms_path=str(result.ms_path),
            reused=bool(result.reused),
            subbands_missing=list(result.subbands_missing),
            seconds=round(sum(result.stage_seconds.values()), 3),
        )

    def _failed(
        self, state: PartitionState, group: OpenGroup, failure: ConversionFailure, now: float
    ) -> None:
        self.counts.failed_attempts += 1
        kind = "transient_error" if failure.transient else "permanent_error"
        self.metrics.conversions.labels(result=kind).inc()
        retry = failure.transient and group.attempts < self.settings.max_attempts
        log.warning(
            "conversion failed",
            group_id=group.group_id,
            attempt=group.attempts,
            transient=failure.transient,
            retry=retry,
            error=failure.describe(),
        )
        if retry:
            settings = self.settings
            group.phase = Phase.QUEUED
            group.not_before = now + backoff_s(
                group.attempts, settings.backoff_base_s, settings.backoff_max_s
            )
            return
        text = (
            f"conversion of group {group.group_id} failed after {group.attempts} attempt(s) "
            f"({'transient' if failure.transient else 'permanent'} error): {failure.describe()}"
        )
        self._dead_letter(state, group, Reason.CONVERSION_FAILED, text)

    def _dead_letter(
        self, state: PartitionState, group: OpenGroup, reason: Reason, text: str
    ) -> None:
        group.finish = group_dead_letter(
            self.settings.topics.dead_letter,
            group.group_id,
            group.group_time,
            reason,
            text,
            source=SourceMessage(state.topic, state.partition, group.first_offset, None, None),
            subbands=group.subbands,
            attempts=max(group.attempts, 1),
        )
        group.phase = Phase.FINISHING
