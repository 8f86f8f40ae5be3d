"""Conversions run in worker processes, so the poll loop never blocks on one.

A ``concurrent.futures.ProcessPoolExecutor`` with the "spawn" start method (no forked
copies of the Kafka clients' threads) runs :func:`convert_in_worker`, which calls
``converter.convert_group``. The worker classifies a failure as *transient* (I/O errors,
a worker that died, generic conversion errors: worth another attempt) or *permanent*
(invalid input, programming errors: retrying cannot help) and returns it as a value, so
no exception object has to survive pickling. Workers die with the consumer
(``PR_SET_PDEATHSIG``), so a killed consumer leaves no orphan writing an MS behind it.
"""

from __future__ import annotations

import os
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import structlog

from converter.process_lifetime import die_with_parent

if TYPE_CHECKING:
    from converter.options import ConversionResult

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ConversionJob:
    """Everything a worker needs to convert one group (picklable)."""

    group_id: str
    files: tuple[Path, ...]
    output: Path
    scratch_dir: Path | None
    expected_subbands: int
    antenna_positions: Path | None
    imaging_columns: bool
    force: bool
    attempt: int
    #: Fault injection: SIGKILL the consumer this many seconds into the conversion.
    kill_consumer_after_s: float | None = None


@dataclass(frozen=True)
class ConversionFailure:
    """A failed attempt, as plain values."""

    transient: bool
    error_type: str
    message: str
    traceback: str = ""

    def describe(self) -> str:
        return f"{self.error_type}: {self.message}"


#: A worker's answer: the converter's result, or a failure.
Outcome: TypeAlias = "ConversionResult | ConversionFailure"


def convert_in_worker(job: ConversionJob) -> Outcome:
    """Worker entry point: convert one group; returns its result or a :class:`ConversionFailure`."""
    if job.kill_consumer_after_s is not None:
        from consumer.crashpoints import kill_later

        kill_later(os.getppid(), job.kill_consumer_after_s)
    try:
        from converter import (
            ConversionError,
            ConversionOptions,
            InputValidationError,
            convert_group,
        )
    except ImportError as exc:  # a broken installation: no retry can fix it
        return _failure(exc, transient=False)
    options = ConversionOptions(
        antenna_positions=job.antenna_positions,
        imaging_columns=job.imaging_columns,
        force=job.force,
        scratch_dir=job.scratch_dir,
        expected_subbands=job.expected_subbands,
    )
    try:
        return convert_group(list(job.files), job.output, options)
    except InputValidationError as exc:
        return _failure(exc, transient=False)
    except (ConversionError, OSError, MemoryError, TimeoutError) as exc:
        return _failure(exc, transient=True)
    except Exception as exc:  # a bug or an unforeseen input: retrying will not help
        return _failure(exc, transient=False)


def _failure(exc: BaseException, transient: bool) -> ConversionFailure:
    return ConversionFailure(
        transient=transient,
        error_type=type(exc).__name__,
        message=str(exc) or repr(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


def _init_worker(parent_pid: int, log_level: str, log_json: bool | None) -> None:
    """Runs first in each worker: die with the consumer, log like it, CASA offline,
    tables built without locks (the worker only builds new MSs)."""
    die_with_parent(parent_pid)
    from dsa110_stream.casa_env import build_tables_without_locks, configure_offline_casa
    from dsa110_stream.logs import configure_logging

    configure_logging(log_level, log_json)
    configure_offline_casa()
    build_tables_without_locks()


@dataclass(frozen=True)
class Completed:
    """A finished job: its id, the job, and the outcome."""

    job_id: int
    job: ConversionJob
    outcome: Outcome


class WorkerPool:
    """A fixed number of conversion slots backed by a process pool."""

    def __init__(self, concurrency: int, log_level: str = "INFO", log_json: bool | None = None):
        import multiprocessing

        self.concurrency = concurrency
        self._context = multiprocessing.get_context("spawn")
        self._initargs = (os.getpid(), log_level, log_json)
        self._executor = self._new_executor()
        self._running: dict[int, tuple[Future[Outcome], ConversionJob]] = {}

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.concurrency,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=self._initargs,
        )

    @property
    def free_slots(self) -> int:
        return self.concurrency - len(self._running)

    @property
    def running(self) -> dict[int, ConversionJob]:
        return {job_id: job for job_id, (_, job) in self._running.items()}

    def submit(self, job_id: int, job: ConversionJob) -> None:
        if self.free_slots <= 0:
            raise RuntimeError("no free worker slot")
        self._running[job_id] = (self._executor.submit(convert_in_worker, job), job)

    def collect(self, timeout: float = 0.0) -> list[Completed]:
        """Jobs that are done (waiting up to ``timeout`` seconds for the first one)."""
        from concurrent.futures import FIRST_COMPLETED, wait

        if not self._running:
            return []
        futures = [future for future, _ in self._running.values()]
        wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        done: list[Completed] = []
        broken = False
        for job_id, (future, job) in list(self._running.items()):
            if not future.done():
                continue
            del self._running[job_id]
            try:
                outcome = future.result()
            except BrokenProcessPool as exc:
                broken = True
                outcome = ConversionFailure(
                    transient=True,
                    error_type="WorkerDied",
                    message=f"the conversion worker process died (killed or out of memory): {exc}",
                )
            except Exception as exc:  # e.g. the result could not be unpickled
                outcome = _failure(exc, transient=True)
            done.append(Completed(job_id, job, outcome))
        if broken:
            log.warning("worker pool broken; starting a new one")
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
        return done

    def abandon(self) -> None:
        """Kill running conversions (their groups are redone by the next owner)."""
        import psutil

        # ProcessPoolExecutor has no public way to kill its workers; they are this
        # process's children started by multiprocessing's spawn_main (the resource
        # tracker, also a child, is left alone).
        for child in psutil.Process().children():
            try:
                if any("spawn_main" in part for part in child.cmdline()):
                    child.kill()
            except psutil.NoSuchProcess:
                continue
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._running.clear()

    def close(self) -> None:
        """Stop the pool after the running jobs (call :meth:`abandon` first to not wait)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
