"""Read the input files from disk ahead of the CPU, in the order it will need them.

A conversion gathers each block of rows from all the subband files at once, and the
bytes of one block lie in a band of each file (the correlator appends integration
after integration). The prefetcher reads those bands in *steps*, one step per block
(the band of every file that the block needs and no earlier step read), while the CPU
computes the blocks before: the disk streams at full speed and the block loop waits
only when it catches up with it (:meth:`Prefetcher.wait_for`). The page cache is not
this process's memory; the kernel drops those pages under pressure, and the mapped
reads then fetch them again.

The bytes are read by ``sendfile`` to ``/dev/null``: the kernel's ordinary read path,
with no copy to this process and no Python between 64 MB steps (a Python read loop
waits for the GIL after every read while the parser holds it). Not
``POSIX_FADV_WILLNEED``: it streams as fast, but with the pages it brings in, the rest
of a conversion took 4.6 s instead of 3.2-3.4 s (measured side by side, pages in memory
either way; the cause was not established, and this virtual machine's memory makes
such comparisons swing: see "Reading the figures" in docs/converter.md). Measured per
dump: ``sendfile`` with two threads 1.40-1.52 s, 8 MB reads with two threads 1.65-1.70 s.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger(__name__)

#: Threads reading at once: two keep this disk's queue full.
READ_THREADS = 2
#: Bytes per ``sendfile`` call (a stop request is noticed between calls).
READ_STEP_BYTES = 64 * 2**20


@dataclass(frozen=True)
class FileRange:
    """Bytes ``start .. stop`` of one file."""

    path: Path
    start: int
    stop: int


class Prefetcher:
    """Threads reading the ranges of every step once, step after step; stop() ends them."""

    def __init__(self, steps: Sequence[Sequence[FileRange]], threads: int = READ_THREADS) -> None:
        self._ranges = iter([(n, r) for n, step in enumerate(steps) for r in step])
        self._left = [len(step) for step in steps]
        self._read = [threading.Event() for _ in steps]
        for n, step in enumerate(steps):
            if not step:
                self._read[n].set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = False
        self._threads = [
            threading.Thread(target=self._run, name=f"prefetch-{n}", daemon=True)
            for n in range(threads)
        ]

    @classmethod
    def whole_files(cls, paths: Sequence[Path], threads: int = READ_THREADS) -> Prefetcher:
        """One step per file, the whole file (files that cannot be read are skipped)."""
        steps = []
        for path in paths:
            try:
                steps.append([FileRange(path, 0, path.stat().st_size)])
            except OSError:
                steps.append([])
        return cls(steps, threads)

    def start(self) -> Prefetcher:
        for thread in self._threads:
            thread.start()
        self._started = True
        return self

    def stop(self) -> None:
        self._stop.set()
        for done in self._read:  # nobody waits for a step that will not be read
            done.set()

    def join(self) -> None:
        """Wait until every step has been read (or the threads were stopped)."""
        for thread in self._threads:
            thread.join()

    def finished(self) -> bool:
        """Whether every step has been read (or the threads were stopped)."""
        return all(done.is_set() for done in self._read)

    def wait_for(self, step: int) -> None:
        """Wait until every range of ``step`` has been read (at once if not started)."""
        if self._started:
            self._read[step].wait()

    def _next_range(self) -> tuple[int, FileRange] | None:
        with self._lock:
            return next(self._ranges, None)

    def _range_done(self, step: int) -> None:
        with self._lock:
            self._left[step] -= 1
            if self._left[step] == 0:
                self._read[step].set()

    def _run(self) -> None:
        files: dict[Path, int] = {}
        try:
            with Path(os.devnull).open("wb") as sink:
                while not self._stop.is_set() and (job := self._next_range()) is not None:
                    step, where = job
                    try:
                        self._read_through(where, files, sink.fileno())
                    except OSError as exc:  # only an optimisation: the readers report errors
                        log.debug("prefetch stopped reading", path=str(where.path), error=str(exc))
                    finally:
                        self._range_done(step)
        except BaseException:
            self.stop()
            raise
        finally:
            for fd in files.values():
                os.close(fd)

    def _read_through(self, where: FileRange, files: dict[Path, int], sink: int) -> None:
        fd = files.get(where.path)
        if fd is None:
            fd = files[where.path] = os.open(where.path, os.O_RDONLY)
        offset = where.start
        while offset < where.stop and not self._stop.is_set():
            sent = os.sendfile(sink, fd, offset, min(READ_STEP_BYTES, where.stop - offset))
            if sent == 0:  # the file shrank
                return
            offset += sent

    def __enter__(self) -> Prefetcher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
