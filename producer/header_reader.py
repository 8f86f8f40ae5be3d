"""Read many files' headers at once: in worker processes during a bootstrap.

A header read is a handful of small reads scattered through the file (superblock, object
headers, chunk index), about 1 ms of CPU on a warm cache and several disk seeks on a cold
one. h5py serialises every HDF5 call behind one lock, so threads cannot overlap them;
worker processes can, on CPU and on I/O. Small batches (live files) are read inline.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import structlog

from producer.completeness import read_header_or_problem
from producer.header import HeaderProblem, HeaderSummary

log = structlog.get_logger(__name__)

#: Batches smaller than this are not worth a round trip to the workers.
_MIN_PARALLEL = 8


class HeaderReader:
    """Reads headers inline (``workers=0``) or with a pool of ``workers`` processes."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def read(self, paths: list[Path]) -> list[HeaderSummary | HeaderProblem]:
        """The header (or its problem) of each path, in order."""
        if self._workers < 1 or len(paths) < _MIN_PARALLEL:
            return [read_header_or_problem(path) for path in paths]
        if self._pool is None:
            # spawn: a fresh interpreter, not a fork of a process holding HDF5 and Kafka state.
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn")
            )
        chunk = max(1, len(paths) // (4 * self._workers))
        try:
            return list(self._pool.map(read_header_or_problem, paths, chunksize=chunk))
        except BrokenProcessPool as exc:
            log.error("header reader processes died; reading in the main process", error=str(exc))
            self._pool = None
            self._workers = 0
            return [read_header_or_problem(path) for path in paths]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
