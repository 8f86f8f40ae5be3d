"""Read the input files from disk ahead of the CPU, in the order it will need them.

A conversion first parses every file's header and chunk index (small reads scattered
over the whole file, slow one by one from a cold disk), then gathers the visibilities.
A background thread asks the kernel to read each whole file ahead
(``POSIX_FADV_WILLNEED``: asynchronous, large sequential reads into the page cache),
file after file in the order the headers are parsed, so the disk streams at full speed
while the CPU works and the later stages find their pages in memory. The page cache is
not this process's memory; the kernel drops those pages under pressure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger(__name__)

#: Linux reads at most max(read_ahead_kb, max_sectors_kb) per WILLNEED call (8 MB on the
#: project's machines; the rest of a larger range is silently ignored), so every range
#: is announced in steps of this size.
ADVICE_STEP_BYTES = 4 * 2**20


class Prefetcher:
    """A daemon thread announcing every input file to the kernel; stop() ends it early."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = list(paths)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)

    def start(self) -> Prefetcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        handles: list[tuple[int, int]] = []
        try:
            for path in self._paths:
                fd = os.open(path, os.O_RDONLY)
                handles.append((fd, os.fstat(fd).st_size))
            for fd, size in handles:
                for start in range(0, size, ADVICE_STEP_BYTES):
                    if self._stop.is_set():
                        return
                    length = min(ADVICE_STEP_BYTES, size - start)
                    os.posix_fadvise(fd, start, length, os.POSIX_FADV_WILLNEED)
        except OSError as exc:  # only an optimisation: the readers will report real errors
            log.debug("prefetch stopped", error=str(exc))
        finally:
            for fd, _ in handles:
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
