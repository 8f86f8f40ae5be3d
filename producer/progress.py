"""Bootstrap progress: how many of the files found at start-up are settled, logged as N of M."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from producer.metrics import ProducerMetrics

log = structlog.get_logger(__name__)

_LOG_INTERVAL_S = 5.0


@dataclass
class BootstrapProgress:
    """Counts start-up files as they are found and as they settle (published, rejected or
    gone), into the metrics and, every few seconds, the log."""

    metrics: ProducerMetrics
    total: int = 0
    done: int = 0
    _last_log: float = field(default=0.0, repr=False)
    _finished_logged: bool = field(default=False, repr=False)

    def add(self) -> None:
        self.total += 1
        self.metrics.bootstrap_total.set(self.total)

    def settle(self, bootstrap: bool) -> None:
        """One file settled; counted only if it was found at start-up (``bootstrap``)."""
        if bootstrap:
            self.done += 1
            self.metrics.bootstrap_done.set(self.done)

    def log_if_due(self, pending: int) -> None:
        if self._finished_logged or self.total == 0:
            return
        if self.done >= self.total:
            self._finished_logged = True
            log.info(f"bootstrap: {self.done} of {self.total} files settled; done",
                     done=self.done, total=self.total)
        elif time.monotonic() - self._last_log >= _LOG_INTERVAL_S:
            self._last_log = time.monotonic()
            log.info(f"bootstrap: {self.done} of {self.total} files settled",
                     done=self.done, total=self.total, pending=pending)

    def __str__(self) -> str:
        return f"{self.done} of {self.total}"
