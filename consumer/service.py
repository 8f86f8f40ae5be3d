"""The consumer's poll loop: read subband events, aggregate, convert, finish, commit.

One thread owns the Kafka consumer, the state and the transactional producer; rebalance
callbacks run inside its ``poll``, so no transaction is ever open across a rebalance.
Conversions run in worker processes (``consumer.workers``) while the loop keeps polling;
partitions are paused while every worker is busy. Each loop iteration:

1. poll one message (short timeout) and fold it into its partition's state;
2. collect finished conversions (success → MS-ready event; transient failure → retry
   with backoff; last or permanent failure → dead letter);
3. close groups that are complete or timed out (convert, or dead-letter too few);
4. hand queued groups to free workers, oldest first;
5. finish: one transaction with every ready event and the committable offsets.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import REGISTRY, CollectorRegistry

from consumer.conversions import GroupConversions
from consumer.crashpoints import CrashPoints
from consumer.intake import Intake
from consumer.metrics import ConsumerMetrics
from consumer.outputs import (
    DEAD_LETTER,
    MS_READY,
    Reason,
)
from consumer.reading_clock import ReadingClock
from consumer.settings import ConsumerSettings
from consumer.state import (
    FinishedGroup,
    FinishedRecord,
    FinishKind,
    GroupPolicy,
    OpenGroup,
    PartitionState,
    Phase,
    Verdict,
)
from consumer.workers import WorkerPool
from schemas.codec import EventCodec

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

    from consumer.checkpoint import Checkpointer
    from consumer.finished import FinishedRecordReader
    from dsa110_stream.endpoints import Health

log = structlog.get_logger(__name__)

#: Most events finished in one transaction.
MAX_BATCH = 200
#: Pause before retrying a transaction that was aborted.
ABORT_RETRY_S = 1.0
#: How often lag gauges are refreshed.
LAG_INTERVAL_S = 5.0


class ConsumerStartupError(RuntimeError):
    """The consumer cannot start as configured (missing directory or topic)."""


@dataclass(frozen=True)
class RunLimits:
    """Bounds for one-shot runs (tests, replays); None = unbounded, a service runs forever."""

    max_groups: int | None = None
    idle_exit_s: float | None = None


@dataclass
class RunSummary:
    """What one run did (printed by the CLI on exit)."""

    groups_finished: int = 0
    ms_ready: int = 0
    group_dead_letters: int = 0
    message_dead_letters: int = 0
    converted: int = 0
    reused: int = 0
    failed_attempts: int = 0
    skipped_finished: int = 0
    exit_reason: str = ""
    finished_groups: list[str] = field(default_factory=list)


class ConsumerService:
    """Runs the consumer until a signal or a run limit stops it."""

    def __init__(
        self,
        settings: ConsumerSettings,
        limits: RunLimits | None = None,
        crash: CrashPoints | None = None,
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.settings = settings
        self.limits = limits or RunLimits()
        self.crash = crash or CrashPoints()
        self.metrics = ConsumerMetrics(registry)
        self.summary = RunSummary()
        self.policy = GroupPolicy(
            expected_subbands=settings.expected_subbands,
            min_subbands=settings.min_subbands,
            group_timeout_s=settings.group_timeout_s,
            observation_horizon_s=settings.observation_horizon_s,
        )
        self.topic = settings.topics.subbands
        self.record = FinishedRecord()
        self._codec = EventCodec(settings.kafka.schema_registry_url)
        self._partitions: dict[int, PartitionState] = {}
        self._last_committed: dict[int, int] = {}
        self._finished_this_run: set[str] = set()
        self._stop_reason: str | None = None
        self._hurry = False
        self._paused: bool | None = None
        self._clock = ReadingClock()
        self._last_loop = time.monotonic()
        self._last_activity = time.monotonic()
        self._last_commit = time.monotonic()
        self._finish_not_before = 0.0
        self._next_lag = 0.0
        self._lag: dict[int, int] = {}
        self._last_success: datetime | None = None
        self._joined = False
        self._consumer: Consumer | None = None
        self._checkpoint: Checkpointer | None = None
        self._reader: FinishedRecordReader | None = None
        self._pool: WorkerPool | None = None
        self._intake: Intake | None = None
        self._conversions: GroupConversions | None = None

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> RunSummary:
        """Run until stopped; returns what was done. Raises on fatal errors."""
        self._install_signal_handlers()
        self._start()
        try:
            while self._stop_reason is None:
                self._iterate()
            self._shutdown()
        finally:
            self._close_clients()
        return self.summary

    def request_stop(self, reason: str) -> None:
        """Stop taking new groups and shut down gracefully (idempotent)."""
        if self._stop_reason is None:
            log.info("stopping", reason=reason)
            self._stop_reason = reason
        else:
            self._hurry = True

    def _install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            self.request_stop(signal.Signals(signum).name)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _start(self) -> None:
        from confluent_kafka import Consumer

        from consumer.checkpoint import AtLeastOnceCheckpointer, TransactionalCheckpointer
        from consumer.finished import FinishedRecordReader, FinishedRecordUnavailable

        settings = self.settings
        if not settings.data_root.is_dir():
            raise ConsumerStartupError(
                f"data root {settings.data_root} is not a directory: mount the ingest volume "
                "there or set --data-root"
            )
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        if settings.scratch_dir is not None:
            settings.scratch_dir.mkdir(parents=True, exist_ok=True)
        obs = settings.observability
        self._pool = WorkerPool(settings.concurrency, obs.log_level, obs.log_json)
        self._conversions = GroupConversions(
            settings, self.policy, self._pool, self.record, self.crash, self.metrics
        )
        client = settings.kafka.client_config()
        config: dict[str, Any] = {
            **client,
            "group.id": settings.group_id,
            "partition.assignment.strategy": "cooperative-sticky",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(settings.session_timeout_s * 1000),
            "client.id": f"dsa110-consumer-{settings.instance_id}",
        }
        if settings.static_membership:
            config["group.instance.id"] = settings.instance_id
        self._consumer = Consumer(config)
        if settings.exactly_once:
            self._checkpoint = TransactionalCheckpointer(
                client,
                settings.transactional_id,
                settings.transaction_timeout_s,
                self._consumer,
                self._codec,
                self.crash,
            )
        else:
            self._checkpoint = AtLeastOnceCheckpointer(
                client, self._consumer, self._codec, self.crash
            )
        reader = FinishedRecordReader(
            client,
            input_topic=self.topic,
            output_topics=(settings.topics.ms_ready, settings.topics.dead_letter),
            reader_group=f"{settings.group_id}.finished-record",
            record=self.record,
            codec=self._codec,
            lookback=timedelta(seconds=settings.finished_lookback_s),
            timeout_s=settings.finished_read_timeout_s,
        )
        self._reader = reader
        try:
            reader.check_topics()
        except FinishedRecordUnavailable as exc:
            raise ConsumerStartupError(str(exc)) from exc
        self._intake = Intake(
            topic=self.topic,
            dead_letter_topic=settings.topics.dead_letter,
            data_root=settings.data_root,
            policy=self.policy,
            codec=self._codec,
            record=self.record,
            covers=reader.ensure_covers,
            finished=self._finished,
            metrics=self.metrics,
            read_time=lambda: self._clock.read_time(time.monotonic()),
        )
        self._require_input_topic()
        self._consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info(
            "consumer started",
            group=settings.group_id,
            instance=settings.instance_id,
            topic=self.topic,
            exactly_once=settings.exactly_once,
            concurrency=settings.concurrency,
            force=settings.force,
            force_until=settings.force_until.isoformat() if settings.force_until else None,
        )

    def _require_input_topic(self) -> None:
        assert self._consumer is not None
        metadata = self._consumer.list_topics(self.topic, timeout=30)
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None:
            raise ConsumerStartupError(
                f"input topic {self.topic!r} does not exist: create the topics first "
                "(dsa110-stream topics create) or check --config / DSA110_TOPICS__SUBBANDS"
            )

    # ------------------------------------------------------------------ the loop

    def _iterate(self) -> None:
        assert self._consumer is not None
        now = time.monotonic()
        self._last_loop = now
        message = self._consumer.poll(self.settings.poll_timeout_s)
        if message is not None:
            self._last_activity = time.monotonic()
            self.crash.reached("after_poll")
            self._on_message(message)
            self.crash.reached("after_aggregate")
        now = time.monotonic()
        assert self._conversions is not None
        self._conversions.collect(self._partitions, now)
        if self._stop_reason is None:  # stopping: take no new groups
            self._conversions.close_due(self._partitions, now, self._clock.read_time(now))
            self._conversions.dispatch(self._partitions, now)
        self._finish(now)
        self._apply_pause()
        self._update_gauges(now)
        self._check_limits(now)

    def _on_message(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.fatal():
                raise RuntimeError(f"fatal consumer error: {error}")
            log.warning("consumer error", error=str(error))
            return
        partition = message.partition()
        state = self._partitions.get(partition) if partition is not None else None
        if state is None or self._intake is None:
            log.warning("message from an unassigned partition ignored", partition=partition)
            return
        verdict = self._intake.handle(state, message)
        self.summary.skipped_finished += verdict is Verdict.FINISHED

    def _finished(self, group_id: str) -> FinishedGroup | None:
        """The group's finished record; for groups this run forces (--force, up to
        --force-until), only what this run finished counts."""
        finished = self.record.group(group_id)
        if finished is not None and self.settings.forces(group_id):
            return finished if group_id in self._finished_this_run else None
        return finished

    # ------------------------------------------------------------------ finishing

    def _finish(self, now: float, partitions: set[int] | None = None, force: bool = False) -> None:
        """Emit every ready event and commit offsets, in one transaction per batch."""
        if now < self._finish_not_before and not force:
            return
        chosen = {
            p: s for p, s in self._partitions.items() if partitions is None or p in partitions
        }
        groups = [
            (p, g)
            for p, s in chosen.items()
            for g in s.groups.values()
            if g.phase is Phase.FINISHING
        ][:MAX_BATCH]
        rejections = [(p, r) for p, s in chosen.items() for r in s.rejections.values()]
        rejections = rejections[: MAX_BATCH - len(groups)]
        commit_due = force or now - self._last_commit >= self.settings.commit_interval_s
        if not groups and not rejections and not commit_due:
            return
        offsets = self._committable_offsets(chosen, groups, rejections)
        if not groups and not rejections and not offsets:
            self._last_commit = now
            return
        events = [g.finish for _, g in groups if g.finish is not None]
        events += [r.event for _, r in rejections]
        assert self._checkpoint is not None
        from consumer.checkpoint import FinishAborted

        try:
            self._checkpoint.finish(events, offsets)
        except FinishAborted as exc:
            self.metrics.transactions_aborted.inc()
            log.warning("finishing aborted; will retry", error=str(exc))
            self._finish_not_before = now + ABORT_RETRY_S
            return
        self._last_commit = now
        for tp in offsets:
            self._last_committed[tp.partition] = tp.offset
        for partition, group in groups:
            self._mark_group_finished(self._partitions[partition], group)
        for partition, rejection in rejections:
            self.record.add_rejection(self.topic, partition, rejection.offset)
            self._partitions[partition].remove_rejection(rejection.offset)
            self.summary.message_dead_letters += 1
            self.metrics.dead_letters.labels(reason=str(rejection.event.record["reason"])).inc()
        if groups or rejections:
            self._last_activity = time.monotonic()

    def _committable_offsets(
        self,
        chosen: dict[int, PartitionState],
        groups: list[tuple[int, OpenGroup]],
        rejections: list[tuple[int, Any]],
    ) -> list[TopicPartition]:
        from confluent_kafka import TopicPartition

        offsets = []
        for partition, state in chosen.items():
            committable = state.committable(
                finishing_groups=[g.group_id for p, g in groups if p == partition],
                finishing_rejections=[r.offset for p, r in rejections if p == partition],
            )
            if committable is not None and committable > self._last_committed.get(partition, -1):
                offsets.append(TopicPartition(self.topic, partition, committable))
        return offsets

    def _mark_group_finished(self, state: PartitionState, group: OpenGroup) -> None:
        assert group.finish is not None
        fields = group.finish.record
        if group.finish.schema_name == MS_READY:
            finished = FinishedGroup(
                group.group_id,
                frozenset(int(sb) for sb in fields["subbands_present"]),
                FinishKind.MS_READY,
                int(fields["revision"]),
            )
            self.summary.ms_ready += 1
            self._last_success = datetime.now(UTC)
            self.metrics.last_success.set(self._last_success.timestamp())
            outcome = "partial" if fields["subbands_missing"] else "complete"
        else:
            assert group.finish.schema_name == DEAD_LETTER
            finished = FinishedGroup(
                group.group_id, frozenset(group.subbands), FinishKind.DEAD_LETTER
            )
            self.summary.group_dead_letters += 1
            reason = str(fields["reason"])
            self.metrics.dead_letters.labels(reason=reason).inc()
            outcome = "incomplete" if reason == Reason.INCOMPLETE_GROUP else "failed"
        self.record.add_group(finished)
        self._finished_this_run.add(group.group_id)
        state.remove_group(group.group_id)
        self.summary.groups_finished += 1
        self.summary.finished_groups.append(group.group_id)
        self.metrics.groups_finished.labels(outcome=outcome).inc()
        log.info(
            "group finished",
            group_id=group.group_id,
            outcome=outcome,
            emitted=group.finish.schema_name,
            event_id=group.finish.event_id,
        )

    # ------------------------------------------------------------------ rebalancing

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._reader is not None
        self._joined = True
        self._last_activity = time.monotonic()
        if not partitions:  # a cooperative rebalance that gave this member nothing new
            return
        committed = consumer.committed(partitions, timeout=self.settings.finished_read_timeout_s)
        for tp in committed:
            start = tp.offset if tp.offset >= 0 else None
            self._partitions[tp.partition] = PartitionState(
                self.topic, tp.partition, position=start
            )
            self._last_committed[tp.partition] = tp.offset if tp.offset >= 0 else -1
        # Another instance may have finished groups of these partitions: read its events.
        self._reader.refresh()
        self._paused = None
        log.info(
            "partitions assigned",
            partitions={tp.partition: tp.offset for tp in committed},
            assignment=sorted(self._partitions),
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {tp.partition for tp in partitions if tp.partition in self._partitions}
        if revoked:
            try:
                self._finish(time.monotonic(), partitions=revoked, force=True)
            except Exception as exc:  # the next owner redoes what was not committed
                log.warning("commit on revoke failed", error=str(exc))
        self._drop(revoked, "revoked")

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop({tp.partition for tp in partitions}, "lost")

    def _drop(self, partitions: set[int], why: str) -> None:
        for partition in partitions:
            state = self._partitions.pop(partition, None)
            self._last_committed.pop(partition, None)
            self._lag.pop(partition, None)
            self.metrics.forget_partition(partition)
            if state is not None:
                log.info(
                    f"partition {why}",
                    partition=partition,
                    dropped_groups=sorted(state.groups),
                    dropped_dead_letters=len(state.rejections),
                )
        self._paused = None

    # ------------------------------------------------------------------ housekeeping

    def _apply_pause(self) -> None:
        assert self._consumer is not None and self._pool is not None
        want = self._stop_reason is not None or self._pool.free_slots <= 0
        if want == self._paused:
            return
        (self._clock.pause if want else self._clock.resume)(time.monotonic())
        assignment = self._consumer.assignment()
        if assignment:
            (self._consumer.pause if want else self._consumer.resume)(assignment)
        self._paused = want

    def _update_gauges(self, now: float) -> None:
        from confluent_kafka import TopicPartition

        if now < self._next_lag:
            return
        self._next_lag = now + LAG_INTERVAL_S
        assert self._consumer is not None
        for partition, state in self._partitions.items():
            label = str(partition)
            self.metrics.open_groups.labels(partition=label).set(len(state.groups))
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), cached=True
            )
            position = state.position if state.position is not None else 0
            if high is not None and high >= 0:
                self._lag[partition] = max(high - position, 0)
                self.metrics.lag.labels(partition=label).set(self._lag[partition])

    def _check_limits(self, now: float) -> None:
        limits = self.limits
        if limits.max_groups is not None and self.summary.groups_finished >= limits.max_groups:
            self.request_stop(f"finished {self.summary.groups_finished} groups (--max-groups)")
        elif (
            limits.idle_exit_s is not None
            and self._idle()
            and (now - self._last_activity >= limits.idle_exit_s)
        ):
            self.request_stop(f"idle for {limits.idle_exit_s:g} s (--idle-exit)")

    def _idle(self) -> bool:
        """Joined the group, nothing open, nothing converting (for --idle-exit)."""
        assert self._pool is not None
        return (
            self._joined
            and not self._pool.running
            and all(s.is_idle for s in self._partitions.values())
        )

    def health(self) -> Health:
        """Liveness: the loop iterates. Readiness: assigned, caught up, not stopping."""
        from dsa110_stream.endpoints import Health

        live = time.monotonic() - self._last_loop < self.settings.liveness_timeout_s
        lag = sum(self._lag.values())
        ready = (
            live
            and bool(self._partitions)
            and lag <= self.settings.ready_max_lag
            and self._stop_reason is None
        )
        return Health(
            live=live,
            ready=ready,
            detail={
                "assigned_partitions": sorted(self._partitions),
                "lag": lag,
                "open_groups": sum(len(s.groups) for s in list(self._partitions.values())),
                "conversions_running": self._conversions.running if self._conversions else 0,
                "last_success": self._last_success.isoformat() if self._last_success else None,
                "stopping": self._stop_reason,
            },
        )

    # ------------------------------------------------------------------ shutdown

    def _shutdown(self) -> None:
        """Finish or abandon running conversions within the grace period, commit, leave."""
        assert self._consumer is not None and self._pool is not None
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        self._apply_pause()
        while self._pool.running and time.monotonic() < deadline and not self._hurry:
            self._consumer.poll(self.settings.poll_timeout_s)
            now = time.monotonic()
            assert self._conversions is not None
            self._conversions.collect(self._partitions, now)
            self._finish(now)
        if self._pool.running:
            log.warning(
                "abandoning running conversions; the next owner redoes them",
                groups=[job.group_id for job in self._pool.running.values()],
            )
            self._pool.abandon()
        self._finish(time.monotonic(), force=True)
        self._consumer.close()  # leaves the group; on_revoke commits once more
        self._consumer = None
        summary = self.summary
        if self._conversions is not None:
            counts = self._conversions.counts
            summary.converted, summary.reused = counts.converted, counts.reused
            summary.failed_attempts = counts.failed_attempts
        summary.exit_reason = self._stop_reason or ""
        log.info("consumer stopped", **_summary_fields(summary))

    def _close_clients(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        if self._checkpoint is not None:
            self._checkpoint.close()
        if self._reader is not None:
            self._reader.close()
        if self._pool is not None:
            if self._pool.running:
                self._pool.abandon()
            else:
                self._pool.close()


def _summary_fields(summary: RunSummary) -> dict[str, Any]:
    return {k: v for k, v in summary.__dict__.items() if k != "finished_groups"}
