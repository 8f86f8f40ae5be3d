"""``produce --dry-run``: what a start-up would do with the files in the directory, publishing
nothing.

It runs the producer's own steps (admission, completeness, grouping against the state
rebuilt from the topics) in bootstrap order, so the group ids it prints are the ones the
producer would publish, and a group with fewer than 16 files shows up before a multi-day
bootstrap rather than after it.
"""

from __future__ import annotations

import enum
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from converter.grouping import N_SUBBANDS, SubbandName
from producer.admission import Rejection, RejectReason, admit, relative_path
from producer.completeness import Completeness, CompletenessRules, Observation, judge
from producer.settings import ProducerSettings
from producer.state import ProducerState, PublishedFile
from producer.watcher import ScannedFile


class Action(enum.Enum):
    PUBLISH = "publish"
    ALREADY_PUBLISHED = "already published"
    ALREADY_REJECTED = "already dead-lettered"
    DEAD_LETTER = "dead-letter"
    WAIT = "wait (not complete yet)"


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    action: Action
    group_id: str | None = None
    subband: int | None = None
    detail: str = ""


def plan_bootstrap(
    settings: ProducerSettings, state: ProducerState, scanned: Iterable[ScannedFile]
) -> list[PlannedFile]:
    """Decide, for every file found, what the producer would do at start-up."""
    rules = CompletenessRules(settings.stable_seconds, settings.corrupt_after_seconds)
    root = settings.root
    root_resolved = root.resolve()
    now = datetime.now(UTC)
    max_future = timedelta(seconds=settings.max_future_seconds)
    planned: list[PlannedFile] = []
    admitted: list[tuple[SubbandName, ScannedFile, str]] = []
    for item in scanned:
        rel = relative_path(item.path, root)
        if state.is_published(rel):
            planned.append(PlannedFile(item.path, Action.ALREADY_PUBLISHED))
        elif state.is_rejected(rel):
            planned.append(PlannedFile(item.path, Action.ALREADY_REJECTED))
        else:
            admission = admit(item.path, root_resolved, now, max_future)
            if isinstance(admission, Rejection):
                planned.append(_dead_letter(item.path, admission))
            else:
                admitted.append((admission, item, rel))
    admitted.sort(key=lambda entry: (entry[0].timestamp, entry[2]))
    for name, item, rel in admitted:
        if item.stat is None:
            continue
        verdict = judge(item.path, Observation(item.stat, time.monotonic()), rules,
                        time.monotonic(), time.time())
        if verdict.completeness is Completeness.NOT_YET:
            planned.append(PlannedFile(item.path, Action.WAIT, None, name.subband,
                                       verdict.reason))
        elif verdict.completeness is Completeness.CORRUPT:
            planned.append(_dead_letter(
                item.path, Rejection(RejectReason.CORRUPT_FILE, verdict.reason)
            ))
        elif verdict.completeness is Completeness.COMPLETE:
            group_id, owner = state.assign(rel, name)
            if owner is not None:
                planned.append(PlannedFile(
                    item.path, Action.DEAD_LETTER, group_id, name.subband,
                    f"{RejectReason.DUPLICATE_FILE.value}: subband {name.subband:02d} "
                    f"already from {owner}",
                ))
            else:
                state.record_published(PublishedFile(rel, group_id, name.subband, name.timestamp))
                planned.append(PlannedFile(item.path, Action.PUBLISH, group_id, name.subband))
    return planned


def _dead_letter(path: Path, rejection: Rejection) -> PlannedFile:
    return PlannedFile(path, Action.DEAD_LETTER, detail=f"{rejection.reason.value}: "
                       f"{rejection.message}")


def format_plan(planned: list[PlannedFile]) -> str:
    """A table of the files (group order) followed by a per-group and overall summary."""
    lines = [f"{'ACTION':<24} {'GROUP ID':<19} {'SB':>2}  FILE  DETAIL"]
    order = sorted(planned, key=lambda p: (p.group_id or "~", p.subband or 0, p.path.name))
    for item in order:
        subband = f"{item.subband:02d}" if item.subband is not None else "--"
        lines.append(f"{item.action.value:<24} {item.group_id or '-':<19} {subband:>2}  "
                     f"{item.path.name}  {item.detail}".rstrip())
    groups: dict[str, set[int]] = defaultdict(set)
    for item in planned:
        if item.action is Action.PUBLISH and item.group_id and item.subband is not None:
            groups[item.group_id].add(item.subband)
    counts = {action: sum(1 for p in planned if p.action is action) for action in Action}
    lines.append("")
    lines.append(f"{len(planned)} files: " + ", ".join(
        f"{counts[action]} {action.value}" for action in Action if counts[action]
    ))
    partial = {g: sorted(set(range(N_SUBBANDS)) - sbs) for g, sbs in groups.items()
               if len(sbs) < N_SUBBANDS}
    lines.append(f"{len(groups)} groups to publish, {len(groups) - len(partial)} with all "
                 f"{N_SUBBANDS} subbands")
    for group_id, missing in sorted(partial.items()):
        lines.append(f"  {group_id}: new files lack subbands "
                     f"{', '.join(f'{sb:02d}' for sb in missing)} "
                     "(already published earlier, or not on disk)")
    return "\n".join(lines)
