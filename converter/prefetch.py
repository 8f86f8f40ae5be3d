"""Read the input files from disk ahead of the CPU, in the order it will need them.

A conversion first parses every file's header and chunk index (small reads scattered
over the whole file, slow one by one from a cold disk), then gathers the visibilities.
Two background threads read the files meanwhile, file after file in the order the
headers are parsed, and the parser takes each file once it is in memory: the disk
streams at full speed while the CPU checks and sets up, and the later stages find their
pages in memory. The page cache is not this process's memory; the kernel drops those
pages under pressure.

The files are read by ``sendfile`` to ``/dev/null``: the kernel's ordinary read path,
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
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger(__name__)

#: Threads reading at once: two keep this disk's queue full.
READ_THREADS = 2
#: Bytes per ``sendfile`` call (a stop request is noticed between calls).
READ_STEP_BYTES = 64 * 2**20


class Prefetcher:
    """Threads reading every input file once; stop() ends them early."""

    def __init__(self, paths: Sequence[Path], threads: int = READ_THREADS) -> None:
        self._paths = iter(list(paths))
        self._read = {path: threading.Event() for path in paths}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = False
        self._threads = [
            threading.Thread(target=self._run, name=f"prefetch-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> Prefetcher:
        for thread in self._threads:
            thread.start()
        self._started = True
        return self

    def stop(self) -> None:
        self._stop.set()
        for done in self._read.values():  # nobody waits for a file that will not be read
            done.set()

    def join(self) -> None:
        """Wait until every file has been read (or the threads were stopped)."""
        for thread in self._threads:
            thread.join()

    def wait_for(self, path: Path) -> None:
        """Wait until ``path`` has been read through (at once if it is not one of ours).

        Parsing a file before it is in memory would mean small synchronous reads
        competing with the stream for the disk.
        """
        done = self._read.get(path)
        if done is not None and self._started:
            done.wait()

    def _next_path(self) -> Path | None:
        with self._lock:
            return next(self._paths, None)

    def _run(self) -> None:
        try:
            with Path(os.devnull).open("wb") as sink:
                while not self._stop.is_set() and (path := self._next_path()) is not None:
                    try:
                        self._read_through(path, sink.fileno())
                    except OSError as exc:  # only an optimisation: the readers report errors
                        log.debug("prefetch stopped reading", path=str(path), error=str(exc))
                    finally:
                        self._read[path].set()
        except BaseException:
            self.stop()
            raise

    def _read_through(self, path: Path, sink: int) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            size, offset = os.fstat(fd).st_size, 0
            while offset < size and not self._stop.is_set():
                sent = os.sendfile(sink, fd, offset, min(READ_STEP_BYTES, size - offset))
                if sent == 0:  # the file shrank
                    return
                offset += sent
        finally:
            os.close(fd)

    def __enter__(self) -> Prefetcher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
