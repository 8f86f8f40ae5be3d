"""The clock that a group's wall-clock timeout counts on: time spent reading."""

from __future__ import annotations


class ReadingClock:
    """Monotonic seconds with the time the partitions spent paused taken out.

    While every worker is busy the consumer pauses its partitions, so the rest of an
    open group's subbands wait unread in Kafka however punctually they were published.
    On this clock ``group_timeout_s`` counts only the time the consumer was reading, so a
    pause cannot close a group early and turn its on-time subbands into late ones (seen
    in the kill -9 test: a first conversion of 5 s, worker start included, timed out a
    group whose last subband sat unread behind the pause, then dead-lettered that subband
    as LATE_SUBBAND).
    """

    def __init__(self) -> None:
        self._paused_at: float | None = None
        self._paused_s = 0.0

    def pause(self, now: float) -> None:
        """Stop counting from monotonic time ``now`` (no effect if already paused)."""
        if self._paused_at is None:
            self._paused_at = now

    def resume(self, now: float) -> None:
        """Count again from monotonic time ``now`` (no effect if not paused)."""
        if self._paused_at is not None:
            self._paused_s += now - self._paused_at
            self._paused_at = None

    def read_time(self, now: float) -> float:
        """Seconds on this clock at monotonic time ``now``."""
        stopped = now if self._paused_at is None else self._paused_at
        return stopped - self._paused_s
