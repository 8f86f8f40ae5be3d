"""Measured stage timings (``time.perf_counter``), safe to add to from several threads.

Stages that run concurrently (read, rephase and write overlap in the block pipeline)
each report their own busy time, so their sum can exceed the wall time, which is
reported separately as ``total``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimer:
    """Accumulates seconds per stage name."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body and add it to ``name`` (also when the body raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    def seconds(self) -> dict[str, float]:
        """Every stage so far, plus ``total``: wall time since the timer was created."""
        with self._lock:
            result = {name: round(value, 4) for name, value in self._seconds.items()}
        result["total"] = round(time.perf_counter() - self._started, 4)
        return result
