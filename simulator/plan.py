"""Which files a simulation writes, under which names, and in which order.

Planning is separate from writing so that the truth file can be written before the
first data file appears (a test can read it while a live run fills the directory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from simulator.config import FileRef, SimulationConfig

NAME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Hard-case labels recorded per file in the truth file.
DUPLICATE = "duplicate"
LATE = "late"
CORRUPT = "corrupt"
MISNAMED = "misnamed"
SHUFFLED = "shuffled"


@dataclass(frozen=True)
class PlannedFile:
    """One file to write: which dump and subband it holds, its name, its writing slot.

    ``slot`` is the dump whose files it is written with (``n_dumps`` = after all of them).
    """

    dump: int
    subband: int
    name: str
    filename_timestamp: datetime
    cases: tuple[str, ...]
    slot: int


@dataclass(frozen=True)
class DumpPlan:
    index: int
    start_time: datetime


@dataclass(frozen=True)
class Plan:
    """Dumps and files; ``files`` is in writing (arrival) order."""

    dumps: tuple[DumpPlan, ...]
    files: tuple[PlannedFile, ...]


def cadence_s(config: SimulationConfig) -> float:
    """Seconds between dump starts: one dump's integrations (309.237648 s by default)."""
    return config.n_times * config.integration_time_s


def make_plan(config: SimulationConfig) -> Plan:
    """Lay out every dump and file of a simulation, deterministically from ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    first_start = _first_start(config)
    dumps = tuple(
        DumpPlan(index=d, start_time=first_start + timedelta(seconds=d * cadence_s(config)))
        for d in range(config.n_dumps)
    )
    slots: list[list[PlannedFile]] = [[] for _ in range(config.n_dumps + 1)]
    misnamed_count = 0
    for dump in dumps:
        jitters = _jitters(config, rng, straddle=config.straddle_grid_edge and dump.index == 0)
        regular: list[PlannedFile] = []
        duplicates: list[PlannedFile] = []
        for subband, jitter in zip(config.subbands, jitters, strict=True):
            ref: FileRef = (dump.index, subband)
            if ref in config.missing:
                continue
            stamp = _whole_seconds(dump.start_time + timedelta(seconds=float(jitter)))
            cases: list[str] = []
            name = _name(stamp, subband)
            if ref in config.misnamed:
                name = _misname(stamp, subband, misnamed_count)
                misnamed_count += 1
                cases.append(MISNAMED)
            if ref in config.corrupt:
                cases.append(CORRUPT)
            if config.shuffle:
                cases.append(SHUFFLED)
            slot = dump.index
            if ref in config.late:
                cases.append(LATE)
                slot = min(dump.index + config.late_by_dumps, config.n_dumps)
            planned = PlannedFile(dump.index, subband, name, stamp, tuple(cases), slot)
            (regular if slot == dump.index else slots[slot]).append(planned)
            if ref in config.duplicates:
                later = stamp + timedelta(seconds=1 + len(duplicates) % 3)
                duplicates.append(
                    PlannedFile(
                        dump.index, subband, _name(later, subband), later, (DUPLICATE,), dump.index
                    )
                )
        if config.shuffle:
            regular = [regular[i] for i in rng.permutation(len(regular))]
        # Late files of earlier dumps were queued into this slot already: they follow.
        slots[dump.index] = regular + duplicates + slots[dump.index]
    files = tuple(f for slot in slots for f in slot)
    return Plan(dumps=dumps, files=files)


def _first_start(config: SimulationConfig) -> datetime:
    """The first dump's start; with ``straddle_grid_edge``, just before the next grid edge.

    The edge then falls in the middle of the first dump's jitter range, and the
    earliest and latest files of that dump are pinned to the ends of the range.
    """
    start = config.start_time
    if not config.straddle_grid_edge:
        return start
    epoch = start.timestamp() - config.grid_offset_s
    edge = (math.floor(epoch / config.grid_s) + 1) * config.grid_s + config.grid_offset_s
    lo, hi = config.jitter_s
    return datetime.fromtimestamp(edge - math.floor((lo + hi) / 2), tz=UTC)


def _jitters(config: SimulationConfig, rng: np.random.Generator, straddle: bool) -> np.ndarray:
    lo, hi = config.jitter_s
    jitters = rng.uniform(lo, hi, size=len(config.subbands))
    if straddle:
        if jitters.size < 2:
            raise ValueError("straddle_grid_edge needs at least two subbands")
        jitters[int(np.argmin(jitters))] = lo
        jitters[int(np.argmax(jitters))] = hi
    return jitters


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _name(stamp: datetime, subband: int) -> str:
    return f"{stamp.strftime(NAME_FORMAT)}_sb{subband:02d}.hdf5"


def _misname(stamp: datetime, subband: int, count: int) -> str:
    """A name the grouping rule must reject; successive misnamed files cycle the faults."""
    styles = (
        f"{stamp.strftime(NAME_FORMAT)}_sb{16 + subband:02d}.hdf5",  # subband out of range
        f"{stamp.strftime('%Y-%m-%dT%H-%M-%S')}_sb{subband:02d}.hdf5",  # bad stem
        f"{stamp.strftime(NAME_FORMAT)}.hdf5",  # no subband
    )
    return styles[count % len(styles)]
