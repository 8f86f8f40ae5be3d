"""Is a subband file complete? A typed verdict from stability evidence and the header.

The correlator writes a file incrementally for ~309 s and keeps its header
self-consistent after every integration, so a consistent header alone does not prove the
file is finished. The proof is one of:

* the kernel reported close-after-write or a rename into the directory (inotify), or
* the file has not changed for ``stable_seconds``: either its mtime is that old, or we
  saw the same size and mtime at least that long ago (the second form does not trust
  the file server's clock).

A stable file must also have a readable, self-consistent header. One that does not
becomes CORRUPT only after ``corrupt_after_seconds`` without modification; until then it
may still be being written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from producer.header import HeaderProblem, HeaderSummary, read_header_summary


@dataclass(frozen=True)
class FileStat:
    """The identity of a file's content as far as ``stat`` can tell (symlinks followed)."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStat:
        result = path.stat()
        return cls(size=result.st_size, mtime_ns=result.st_mtime_ns)


@dataclass(frozen=True)
class Observation:
    """What we last saw of a candidate file, and when (monotonic seconds)."""

    stat: FileStat
    seen_at: float
    closed: bool = False


class Completeness(enum.Enum):
    COMPLETE = "complete"
    NOT_YET = "not yet complete"
    CORRUPT = "corrupt"
    VANISHED = "vanished"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check; ``header`` and ``stat`` are set when COMPLETE."""

    completeness: Completeness
    reason: str
    observation: Observation | None = None
    header: HeaderSummary | None = None


@dataclass(frozen=True)
class CompletenessRules:
    stable_seconds: float
    corrupt_after_seconds: float


@dataclass(frozen=True)
class Stable:
    """A file that passed the stability test; its header is to be read next."""

    observation: Observation
    age_seconds: float


def assess_stability(
    path: Path,
    previous: Observation,
    rules: CompletenessRules,
    now_monotonic: float,
    now_wall: float,
) -> Verdict | Stable:
    """First half of :func:`judge`: a NOT_YET/VANISHED verdict, or :class:`Stable`.

    Split out so that the header reads of many stable files can run in parallel.
    """
    try:
        stat = FileStat.of(path)
    except FileNotFoundError:
        return Verdict(Completeness.VANISHED, "file no longer exists")
    if stat != previous.stat:
        return Verdict(Completeness.NOT_YET, "still changing", Observation(stat, now_monotonic))
    age_wall = now_wall - stat.mtime_ns / 1e9
    unchanged_for = now_monotonic - previous.seen_at
    if previous.closed or max(age_wall, unchanged_for) >= rules.stable_seconds:
        return Stable(previous, age_wall)
    return Verdict(Completeness.NOT_YET, "not yet stable", previous)


def conclude(
    path: Path,
    stable: Stable,
    header: HeaderSummary | HeaderProblem,
    rules: CompletenessRules,
    now_monotonic: float,
) -> Verdict:
    """Second half of :func:`judge`, given the header read (or its problem)."""
    if isinstance(header, HeaderProblem):
        if stable.age_seconds >= rules.corrupt_after_seconds:
            return Verdict(Completeness.CORRUPT, header.reason, stable.observation)
        return Verdict(Completeness.NOT_YET, header.reason, stable.observation)
    try:
        after = FileStat.of(path)
    except FileNotFoundError:
        return Verdict(Completeness.VANISHED, "file disappeared while its header was read")
    if after != stable.observation.stat:
        changed = Observation(after, now_monotonic)
        return Verdict(Completeness.NOT_YET, "changed while its header was read", changed)
    return Verdict(Completeness.COMPLETE, "complete", stable.observation, header)


def read_header_or_problem(path: Path) -> HeaderSummary | HeaderProblem:
    """:func:`read_header_summary`, with the problem returned rather than raised."""
    try:
        return read_header_summary(path)
    except HeaderProblem as problem:
        return problem


def judge(
    path: Path,
    previous: Observation,
    rules: CompletenessRules,
    now_monotonic: float,
    now_wall: float,
) -> Verdict:
    """Decide whether ``path`` is complete, given what we saw of it before.

    The returned ``observation`` replaces ``previous`` (it restarts the stability clock
    when the file changed).
    """
    stability = assess_stability(path, previous, rules, now_monotonic, now_wall)
    if isinstance(stability, Verdict):
        return stability
    return conclude(path, stability, read_header_or_problem(path), rules, now_monotonic)
