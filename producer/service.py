"""The producer's main loop: rebuild state, bootstrap the directory, then follow it live.

Single-threaded apart from the inotify observer, which only puts :class:`FileSignal` s on
a queue. Every file goes through the same steps:

1. *admission* (name, location): rejected files are dead-lettered at once;
2. *pending*: checked until complete (:mod:`producer.completeness`), oldest first;
3. *group*: the shared anchor clustering assigns the group id; a second file for the
   same group and subband is dead-lettered as DUPLICATE_FILE;
4. *publish*: asynchronous; the file counts as published when the broker confirms.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import structlog
from prometheus_client import REGISTRY, CollectorRegistry

from converter.grouping import SubbandName
from dsa110_stream.endpoints import Health
from producer.admission import Rejection, RejectReason, admit, relative_path
from producer.completeness import (
    Completeness,
    CompletenessRules,
    FileStat,
    Observation,
    Stable,
    Verdict,
    assess_stability,
    conclude,
)
from producer.dispatch import CompleteFile, Dispatcher
from producer.events import ProducerIdentity
from producer.header_reader import HeaderReader
from producer.history import (
    HistoryUnavailable,
    history_window,
    read_history,
    seed_state,
)
from producer.metrics import ProducerMetrics
from producer.progress import BootstrapProgress
from producer.publisher import Publisher, PublisherFatalError
from producer.settings import ProducerSettings
from producer.state import ProducerState
from producer.watcher import DirectoryWatcher, FileSignal, ScannedFile, scan_directory
from schemas.codec import EventCodec

log = structlog.get_logger(__name__)
T = TypeVar("T")

_PRUNE_INTERVAL_S = 3600.0
_RETRY_START_S = 1.0
_LIVENESS_S = 60.0
_BACKLOG_WAIT_S = 0.1
#: Stable files judged per loop turn (headers read together), so that delivery reports
#: and signals are served in between.
_BATCH = 500


class ProducerStartupError(RuntimeError):
    """The producer cannot start (bad directories); the message says what to fix."""


@dataclass
class _Candidate:
    path: Path
    relative_path: str
    name: SubbandName
    observation: Observation
    bootstrap: bool
    #: Number of the candidate's latest schedule; older heap entries for it are stale.
    schedule: int = 0


class ProducerService:
    """One producer for one ingest directory; :meth:`run` until :meth:`stop`."""

    def __init__(
        self,
        settings: ProducerSettings,
        *,
        registry: CollectorRegistry = REGISTRY,
        identity: ProducerIdentity | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = ProducerMetrics.create(registry)
        self._identity = identity or ProducerIdentity.here()
        self._stop = threading.Event()
        self._signals: queue.SimpleQueue[FileSignal] = queue.SimpleQueue()
        self._rules = CompletenessRules(settings.stable_seconds, settings.corrupt_after_seconds)
        self._root_resolved = settings.root.resolve()
        self._pending: dict[str, _Candidate] = {}
        #: (due, filename time, schedule number, relative path): oldest first among due.
        self._heap: list[tuple[float, datetime, int, str]] = []
        self._schedules = itertools.count(1)
        self._progress = BootstrapProgress(self.metrics)
        self._ignored_at_start: set[str] = set()
        self._state = ProducerState(tolerance=settings.tolerance)
        self._publisher: Publisher | None = None
        self._dispatcher: Dispatcher | None = None
        self._headers = HeaderReader(settings.header_workers)
        self._ready = False
        self._heartbeat = time.monotonic()
        self._fatal: str | None = None

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to stop watching, flush and return (thread- and signal-safe)."""
        self._stop.set()

    def health(self) -> Health:
        """Liveness: the loop turns. Readiness: state rebuilt and the directory watched."""
        live = self._fatal is None and time.monotonic() - self._heartbeat < _LIVENESS_S
        detail = {
            "input_dir": str(self.settings.input_dir),
            "pending_files": len(self._pending),
            "awaiting_delivery": self._publisher.outstanding if self._publisher else 0,
            "bootstrap": str(self._progress),
            "last_publish_unix": self._dispatcher.last_publish if self._dispatcher else None,
        }
        if self._fatal:
            detail["fatal"] = self._fatal
        return Health(live=live, ready=self._ready and live, detail=detail)

    # -- main loop -------------------------------------------------------------------------

    def run(self, once: bool = False) -> int:
        """Publish until stopped (or, with ``once``, until the start-up files are settled).

        Returns 0 when every event handed to Kafka was confirmed, 1 when some were not
        (they are published again at the next start), 2 on a fatal Kafka client error.
        """
        self._check_directories()
        codec = EventCodec(self.settings.kafka.schema_registry_url)
        client_config = self.settings.kafka.client_config()
        if self.settings.create_topics and (
            self._retry_until_stopped("create topics", self._ensure_topics) is None
        ):
            return 0  # stopped before the broker answered
        publisher = Publisher(client_config, codec, linger_ms=self.settings.linger_ms)
        self._publisher = publisher
        watcher = None
        if self.settings.watch_mode == "inotify" and not once:
            # Watch before listing, so that no file slips between the scan and the watch.
            watcher = DirectoryWatcher(self.settings.input_dir, self._signals)
            try:
                watcher.start()
            except OSError as exc:
                raise ProducerStartupError(str(exc)) from exc
        try:
            scanned = scan_directory(self.settings.input_dir)
            window = history_window(
                scanned, datetime.now(UTC), self.settings.history_lookback
            )
            history = self._retry_until_stopped(
                "read the topics' history",
                lambda: read_history(client_config, self.settings.topics, codec, window),
            )
            if history is None:  # stopped before the broker answered
                return 0
            self._state = seed_state(history, self.settings)
            self._dispatcher = Dispatcher(publisher, self._state, self.settings.topics,
                                          self.metrics, self._progress, self._identity)
            log.info("state rebuilt from the topics", events_read=history.events_read,
                     published_files=self._state.n_published,
                     rejected_files=self._state.n_rejected,
                     anchors=len(self._state.clusterer.anchors),
                     undecodable=history.undecodable,
                     subbands_since=window.subbands_since.isoformat(),
                     dead_letters_since=window.dead_letters_since.isoformat())
            self._start_bootstrap(scanned)
            self._ready = True
            self._loop(publisher, once)
        except PublisherFatalError as exc:
            self._fatal = str(exc)
            log.error("stopping on a fatal Kafka error", error=str(exc))
            return 2
        finally:
            self._ready = False
            if watcher is not None:
                watcher.stop()
            self._headers.close()
        return self._shutdown(publisher)

    def _loop(self, publisher: Publisher, once: bool) -> None:
        scan_interval = (
            self.settings.poll_seconds
            if self.settings.watch_mode == "poll"
            else self.settings.rescan_seconds
        )
        next_scan = time.monotonic() + scan_interval
        last_prune = time.monotonic()
        while not self._stop.is_set():
            self._heartbeat = time.monotonic()
            # While the Kafka client's queue is full, judge nothing new: wait for the broker.
            self._take_signals(_BACKLOG_WAIT_S if publisher.backlogged else self._wait_seconds())
            if not publisher.backlogged:
                self._judge_due()
            publisher.service(0)
            now = time.monotonic()
            if not once and now >= next_scan:
                prune = now - last_prune >= _PRUNE_INTERVAL_S
                self._rescan(prune)
                last_prune = now if prune else last_prune
                next_scan = now + scan_interval
            self.metrics.pending_files.set(len(self._pending))
            self.metrics.awaiting_delivery.set(publisher.outstanding)
            self._progress.log_if_due(len(self._pending))
            if once and not self._pending and publisher.outstanding == 0:
                break

    def _shutdown(self, publisher: Publisher) -> int:
        outstanding = publisher.outstanding
        if outstanding:
            log.info("waiting for the broker to confirm events", outstanding=outstanding,
                     timeout_s=self.settings.shutdown_timeout_seconds)
        try:
            remaining = publisher.flush(self.settings.shutdown_timeout_seconds)
        except PublisherFatalError as exc:
            log.error("fatal Kafka error while flushing", error=str(exc))
            return 2
        if remaining:
            log.error("stopped with events the broker has not confirmed; their files will be "
                      "published again at the next start", unconfirmed=remaining)
            return 1
        log.info("producer stopped", published_files=self._state.n_published,
                 rejected_files=self._state.n_rejected)
        return 0

    # -- start-up ---------------------------------------------------------------------------

    def _check_directories(self) -> None:
        input_dir = self.settings.input_dir
        if not input_dir.is_dir():
            raise ProducerStartupError(f"input directory {input_dir} does not exist")
        if not input_dir.resolve().is_relative_to(self._root_resolved):
            raise ProducerStartupError(
                f"input directory {input_dir} is not inside the data root "
                f"{self.settings.root}: set --data-root to a directory containing it"
            )
        try:
            relative_path(input_dir / "x", self.settings.root)
        except ValueError as exc:
            raise ProducerStartupError(
                f"input directory {input_dir} must be given under the data root path "
                f"{self.settings.root} (not only resolve into it)"
            ) from exc

    def _ensure_topics(self) -> bool:
        from schemas.topics import ensure_topics

        layout = self.settings.layout
        statuses = ensure_topics(
            self.settings.kafka.client_config(),
            self.settings.topics,
            layout.partitions,
            layout.replication_factor,
            min_insync_replicas=layout.min_insync_replicas,
        )
        for status in statuses:
            if status.created:
                log.info("created topic", topic=status.spec.name)
            elif status.differences:
                log.warning("topic differs from its spec (see `dsa110-stream topics`)",
                            topic=status.spec.name, differences=list(status.differences))
        return True

    def _retry_until_stopped(self, what: str, attempt: Callable[[], T]) -> T | None:
        from confluent_kafka import KafkaException

        delay = _RETRY_START_S
        while not self._stop.is_set():
            self._heartbeat = time.monotonic()
            try:
                return attempt()
            except (KafkaException, HistoryUnavailable) as exc:
                log.warning(f"cannot {what} yet; retrying", error=str(exc), retry_in_s=delay)
            self._stop.wait(delay)
            delay = min(delay * 2, 60.0)
        return None

    def _start_bootstrap(self, scanned: list[ScannedFile]) -> None:
        now = time.monotonic()
        if not self.settings.bootstrap:
            self._ignored_at_start = {
                relative_path(item.path, self.settings.root) for item in scanned
            }
            log.info("bootstrap disabled: files already in the directory are ignored",
                     files=len(self._ignored_at_start))
            return
        for item in sorted(scanned, key=lambda s: s.path.name):
            self._consider(item.path, item.stat, closed=False, now=now, bootstrap=True)
        log.info("bootstrap: publishing the files already in the directory, oldest first",
                 files_in_directory=len(scanned), to_publish=self._progress.total,
                 already_published_or_rejected=len(scanned) - self._progress.total)

    # -- candidates -------------------------------------------------------------------------

    def _take_signals(self, timeout: float) -> None:
        try:
            signal = self._signals.get(timeout=timeout)
        except queue.Empty:
            return
        now = time.monotonic()
        while True:
            self._consider(signal.path, None, closed=signal.closed, now=now, bootstrap=False)
            try:
                signal = self._signals.get_nowait()
            except queue.Empty:
                return

    def _rescan(self, prune: bool) -> None:
        now = time.monotonic()
        scanned = scan_directory(self.settings.input_dir)
        for item in scanned:
            self._consider(item.path, item.stat, closed=False, now=now, bootstrap=False)
        if prune:
            present = {relative_path(item.path, self.settings.root) for item in scanned}
            horizon = history_window(
                scanned, datetime.now(UTC), self.settings.history_lookback
            ).subbands_since
            self._state.forget_before(horizon, present)

    def _consider(
        self, path: Path, stat: FileStat | None, *, closed: bool, now: float, bootstrap: bool
    ) -> None:
        """First look at a file (or a new signal about one already waiting)."""
        rel = relative_path(path, self.settings.root)
        published = self._state.published(rel)
        if published is not None:
            if closed and _rewritten(path, published.stat):
                log.warning("file written again after it was published; not published again "
                            "(give it a new name to publish it)", path=str(path))
            return
        rejected_for = self._state.rejection_reason(rel)
        if rejected_for is not None:
            # Only content can be fixed by writing the file again; a name or place cannot.
            if not (closed and rejected_for == RejectReason.CORRUPT_FILE.value):
                return
            log.info("corrupt file was written again; checking it afresh", path=str(path))
            self._state.forget_rejection(rel)
        if rel in self._ignored_at_start:
            return
        waiting = self._pending.get(rel)
        if waiting is not None:
            if closed:
                self._observe(waiting, now, closed=True)
            return
        if bootstrap:
            self._progress.add()
        self.metrics.files_seen.inc()
        admitted = admit(path, self._root_resolved, datetime.now(UTC),
                         timedelta(seconds=self.settings.max_future_seconds))
        if isinstance(admitted, Rejection):
            self._dispatch.reject(path, rel, admitted, bootstrap=bootstrap)
            return
        if stat is None:
            try:
                stat = FileStat.of(path)
            except FileNotFoundError:
                self._progress.settle(bootstrap)
                return
        candidate = _Candidate(path, rel, admitted, Observation(stat, now, closed), bootstrap)
        self._pending[rel] = candidate
        self._schedule(candidate, now)

    def _observe(self, candidate: _Candidate, now: float, *, closed: bool) -> None:
        try:
            stat = FileStat.of(candidate.path)
        except FileNotFoundError:
            return  # judged VANISHED at its next check
        candidate.observation = Observation(stat, now, closed)
        self._schedule(candidate, now)

    def _schedule(self, candidate: _Candidate, due: float) -> None:
        candidate.schedule = next(self._schedules)
        heapq.heappush(
            self._heap,
            (due, candidate.name.timestamp, candidate.schedule, candidate.relative_path),
        )

    def _wait_seconds(self) -> float:
        if not self._heap:
            return 0.25
        return min(max(self._heap[0][0] - time.monotonic(), 0.0), 0.25)

    # -- judging ----------------------------------------------------------------------------

    def _judge_due(self) -> None:
        """Judge up to a batch of due candidates, oldest first; headers read in one go."""
        now, now_wall = time.monotonic(), time.time()
        stable: list[tuple[_Candidate, Stable]] = []
        while self._heap and len(stable) < _BATCH:
            due, _, schedule, rel = self._heap[0]
            if due > now:
                break
            heapq.heappop(self._heap)
            candidate = self._pending.get(rel)
            if candidate is None or candidate.schedule != schedule:
                continue  # settled already, or superseded by a later schedule
            stability = assess_stability(
                candidate.path, candidate.observation, self._rules, now, now_wall
            )
            if isinstance(stability, Stable):
                stable.append((candidate, stability))
            else:
                self._act(candidate, stability, now)
        if not stable:
            return
        headers = self._headers.read([candidate.path for candidate, _ in stable])
        now = time.monotonic()
        for (candidate, stability), header in zip(stable, headers, strict=True):
            verdict = conclude(candidate.path, stability, header, self._rules, now)
            self._act(candidate, verdict, now)

    def _act(self, candidate: _Candidate, verdict: Verdict, now: float) -> None:
        path, rel = candidate.path, candidate.relative_path
        if verdict.completeness is Completeness.NOT_YET:
            assert verdict.observation is not None
            candidate.observation = verdict.observation
            self._schedule(candidate, now + self._recheck_delay(verdict.observation, now))
            return
        del self._pending[rel]
        if verdict.completeness is Completeness.VANISHED:
            log.info("file vanished before it was complete", path=str(path))
            self._progress.settle(candidate.bootstrap)
        elif verdict.completeness is Completeness.CORRUPT:
            rejection = Rejection(RejectReason.CORRUPT_FILE, f"{path}: {verdict.reason}")
            self._dispatch.reject(path, rel, rejection, bootstrap=candidate.bootstrap)
        else:
            assert verdict.header is not None and verdict.observation is not None
            self._dispatch.publish(CompleteFile(path, rel, candidate.name,
                                                verdict.observation.stat, verdict.header,
                                                candidate.bootstrap))

    @property
    def _dispatch(self) -> Dispatcher:
        assert self._dispatcher is not None, "dispatching before the state was rebuilt"
        return self._dispatcher

    def _recheck_delay(self, observation: Observation, now: float) -> float:
        """Next look: when the file would become stable, else after a short while."""
        stable = self.settings.stable_seconds
        by_wall = stable - (time.time() - observation.stat.mtime_ns / 1e9)
        by_watch = observation.seen_at + stable - now
        until_stable = min(by_wall, by_watch)
        if until_stable > 0:
            return max(until_stable, 0.05)
        return min(max(stable / 2, 0.5), 10.0)


def _rewritten(path: Path, published: FileStat | None) -> bool:
    """Whether ``path`` differs from what was published (mtime compared to the microsecond,
    the precision events keep)."""
    try:
        now = FileStat.of(path)
    except FileNotFoundError:
        return False
    if published is None:
        return True
    return now.size != published.size or now.mtime_ns // 1000 != published.mtime_ns // 1000
