"""Batch mode for archives: group a directory's subband files and convert every group.

Grouping is :func:`converter.grouping.find_subband_groups`, the same rule the producer
applies to the live stream, so a batch run and the streaming service name and fill
groups identically. Each group becomes ``OUTPUT_DIR/<group_id>.ms``; a group whose MS
already exists with a matching manifest is reused, not converted again. The groups are
converted one after the other in a worker process (:mod:`converter.isolated`), so a
conversion that crashes fails its own group only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from converter.errors import ConversionError, InputValidationError
from converter.grouping import N_SUBBANDS, SubbandGroup, find_subband_groups
from converter.isolated import IsolatedConverter
from converter.options import ConversionOptions

log = structlog.get_logger(__name__)

SUBBAND_GLOB = "*.hdf5"


@dataclass(frozen=True)
class BatchPlan:
    """What a batch run will do: groups to convert (with their MS path) and groups skipped."""

    to_convert: tuple[tuple[SubbandGroup, Path], ...]
    incomplete: tuple[SubbandGroup, ...]  # fewer subbands than min_subbands
    rejected: tuple[tuple[Path, str], ...]  # files whose names are not subband names


@dataclass
class BatchSummary:
    """What a batch run did; every number is counted, every time measured."""

    converted: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (group id, error)
    skipped_incomplete: list[str] = field(default_factory=list)
    seconds: float = 0.0
    conversion_seconds: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def list_subband_files(input_dir: Path) -> list[Path]:
    """The ``*.hdf5`` files directly in ``input_dir`` (not recursive)."""
    if not input_dir.is_dir():
        raise ConversionError(f"{input_dir} is not a directory")
    return sorted(p for p in input_dir.glob(SUBBAND_GLOB) if p.is_file())


def plan_batch(
    input_dir: Path,
    output_dir: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    min_subbands: int = N_SUBBANDS,
) -> BatchPlan:
    """Group the directory's files and decide which groups to convert."""
    groups, rejected = find_subband_groups(list_subband_files(input_dir), start=start, end=end)
    to_convert = []
    incomplete = []
    for group in groups:
        if len(group.files) >= min_subbands:
            to_convert.append((group, output_dir / f"{group.group_id}.ms"))
        else:
            incomplete.append(group)
    return BatchPlan(tuple(to_convert), tuple(incomplete), tuple(rejected))


def run_batch(
    plan: BatchPlan,
    options: ConversionOptions,
    *,
    progress: Callable[[Iterable[tuple[SubbandGroup, Path]]], Iterable[tuple[SubbandGroup, Path]]]
    | None = None,
    converter: IsolatedConverter | None = None,
) -> BatchSummary:
    """Convert the planned groups one after the other; a failure does not stop the run.

    ``converter`` is the worker to use (for instance one that configures logging in
    the worker process); by default a new one, closed at the end.
    """
    with converter or IsolatedConverter() as worker:
        return _convert_planned(plan, options, worker, progress)


def _convert_planned(
    plan: BatchPlan,
    options: ConversionOptions,
    worker: IsolatedConverter,
    progress: Callable[[Iterable[tuple[SubbandGroup, Path]]], Iterable[tuple[SubbandGroup, Path]]]
    | None,
) -> BatchSummary:
    summary = BatchSummary(skipped_incomplete=[g.group_id for g in plan.incomplete])
    started = time.perf_counter()
    items: Iterable[tuple[SubbandGroup, Path]] = plan.to_convert
    if progress is not None:
        items = progress(items)
    for group, output in items:
        bound = log.bind(group_id=group.group_id)
        try:
            result = worker.convert(group.ordered_paths(), output, options)
        except (ConversionError, OSError) as exc:
            kind = "bad input" if isinstance(exc, InputValidationError) else "failed"
            bound.error("conversion failed", kind=kind, error=str(exc))
            summary.failed.append((group.group_id, f"{kind}: {exc}"))
            continue
        if result.reused:
            summary.reused.append(group.group_id)
        else:
            summary.converted.append(group.group_id)
            summary.conversion_seconds.append(result.stage_seconds.get("total", 0.0))
    summary.seconds = time.perf_counter() - started
    return summary
