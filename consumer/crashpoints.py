"""Fault injection for the crash tests: a real SIGKILL at a named step, nothing mocked.

``DSA110_CRASH_AT=after_rename:3`` kills this process with SIGKILL the third time the
step ``after_rename`` is reached; ``mid_convert:1:0.4`` kills the consumer 0.4 s into the
first conversion (from inside the worker, so the converter is interrupted mid-write).
Unset (the normal case), every call is a no-op.

Steps, in the order a group goes through them: after_poll, after_aggregate,
before_convert, mid_convert, after_rename (the MS is in place, no event yet),
after_produce (inside the transaction), after_send_offsets, before_commit,
after_commit (committed, local state not yet updated).
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

ENV_VAR = "DSA110_CRASH_AT"

POINTS = (
    "after_poll",
    "after_aggregate",
    "before_convert",
    "mid_convert",
    "after_rename",
    "after_produce",
    "after_send_offsets",
    "before_commit",
    "after_commit",
)


@dataclass(frozen=True)
class CrashPlan:
    """Kill at the ``hit``-th arrival at ``point`` (``delay_s`` into it, for mid_convert)."""

    point: str
    hit: int = 1
    delay_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> CrashPlan:
        """Parse ``point[:hit[:delay_s]]``."""
        point, *rest = text.strip().split(":")
        if point not in POINTS:
            raise ValueError(f"unknown crash point {point!r}; choose from {', '.join(POINTS)}")
        hit = int(rest[0]) if rest else 1
        delay_s = float(rest[1]) if len(rest) > 1 else 0.0
        if hit < 1 or delay_s < 0:
            raise ValueError(f"bad crash plan {text!r}: hit >= 1 and delay >= 0")
        return cls(point, hit, delay_s)


class CrashPoints:
    """Counts arrivals at each step and SIGKILLs the process at the planned one."""

    def __init__(self, plan: CrashPlan | None = None) -> None:
        self.plan = plan
        self._hits: Counter[str] = Counter()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> CrashPoints:
        text = environ.get(ENV_VAR, "").strip()
        return cls(CrashPlan.parse(text) if text else None)

    def reached(self, point: str) -> None:
        """Mark arrival at ``point``; dies here if this is the planned arrival."""
        if self.plan is None or point != self.plan.point:
            return
        self._hits[point] += 1
        if self._hits[point] == self.plan.hit:
            kill_now(os.getpid())

    def planned_delay(self, point: str) -> float | None:
        """Count an arrival at ``point``; the plan's delay if this is the planned one, else None.

        For steps that happen in another process (mid_convert): the caller arranges the kill.
        """
        if self.plan is None or point != self.plan.point:
            return None
        self._hits[point] += 1
        return self.plan.delay_s if self._hits[point] == self.plan.hit else None


def kill_now(pid: int) -> None:
    """SIGKILL ``pid`` (no cleanup, no flush: what a power cut or an OOM kill does)."""
    os.kill(pid, signal.SIGKILL)


def kill_later(pid: int, delay_s: float) -> threading.Timer:
    """SIGKILL ``pid`` after ``delay_s`` seconds from a daemon timer thread."""
    timer = threading.Timer(delay_s, kill_now, args=(pid,))
    timer.daemon = True
    timer.start()
    return timer
