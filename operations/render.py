"""Plain-text tables and JSON for the operator commands' reports."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from converter.grouping import format_group_id
from operations.replay import ReplayPlan
from operations.status import StatusReport


def to_json(report: StatusReport | ReplayPlan, **extra: Any) -> str:
    """The report as one JSON document (times in ISO 8601, UTC)."""
    document = dataclasses.asdict(report)
    if isinstance(report, ReplayPlan):
        document["groups"] = list(report.groups)
        document["events"] = report.events
    document.update(extra)
    return json.dumps(document, default=_json_default, indent=2)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def format_subbands(subbands: Iterable[int]) -> str:
    """Compact list of subband indices: ``[0, 1, 2, 5]`` → ``"0-2,5"``; ``"-"`` when empty."""
    runs: list[list[int]] = []
    for sb in sorted(subbands):
        if runs and sb == runs[-1][-1] + 1:
            runs[-1].append(sb)
        else:
            runs.append([sb])
    if not runs:
        return "-"
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def format_duration(seconds: float) -> str:
    """``3725`` → ``"1h02m"``, ``95`` → ``"1m35s"``, ``7.2`` → ``"7s"``; negative → ``"-"``."""
    if seconds < 0:
        return "in the future"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], indent: str = "  "
) -> list[str]:
    """Left-aligned columns separated by two spaces (numbers right-aligned)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(_is_number(row[i]) for row in cells) and bool(cells) for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [line(list(headers)), *(line(row) for row in cells)]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True


def status_text(report: StatusReport, expected_subbands: int, max_open: int = 20) -> str:
    """The human report of ``dsa110-stream status`` (the oldest ``max_open`` open groups)."""
    lines = [
        f"Consumer group {report.consumer_group}: {report.group_state}, "
        f"{len(report.members)} member(s)"
    ]
    lines += [
        f"  {m.client_id} ({m.host}): partitions {format_subbands(m.partitions)}"
        for m in report.members
    ]
    lines.append("")
    lines.append(
        f"Topic {report.subbands_topic}: lag {report.total_lag} event(s) over "
        f"{len(report.partitions)} partition(s)"
    )
    lines += table(
        ("partition", "committed", "end", "lag"),
        ((p.partition, p.committed, p.end_offset, p.lag) for p in report.partitions),
    )
    if any(p.committed is None for p in report.partitions):
        lines.append(
            "  (committed '-': nothing committed; the consumer starts at the oldest event)"
        )
    lines.append("")
    complete = sum(1 for g in report.open_groups if not g.subbands_missing)
    lines.append(
        f"Open groups: {len(report.open_groups)} ({complete} with all {expected_subbands} "
        f"subbands, {len(report.open_groups) - complete} incomplete)"
    )
    shown = report.open_groups[:max_open]
    if shown:
        lines += table(
            ("group", "partition", "first offset", "age", "subbands", "present", "missing"),
            (
                (
                    g.group_id,
                    g.partition,
                    g.first_offset,
                    format_duration(g.age_s),
                    f"{len(g.subbands_present)}/{expected_subbands}",
                    format_subbands(g.subbands_present),
                    format_subbands(g.subbands_missing),
                )
                for g in shown
            ),
        )
    if len(report.open_groups) > len(shown):
        lines.append(
            f"  ... and {len(report.open_groups) - len(shown)} newer open group(s) "
            "(--max-open to list more, --json for all)"
        )
    if report.finished_events_pending:
        lines.append(
            f"  {report.finished_events_pending} event(s) above the committed offsets belong to "
            "groups already finished (they will be skipped, not converted again)"
        )
    if report.unusable_events_pending:
        lines.append(
            f"  {report.unusable_events_pending} event(s) above the committed offsets cannot "
            "be used (undecodable, bad group id, or already dead-lettered)"
        )
    if report.scan_truncated:
        lines.append(
            f"  partitions {format_subbands(report.scan_truncated)}: only the first "
            "--scan-limit events after the committed offset were read; more groups may be open"
        )
    lines.append("")
    lines.append(f"Recent completions: {len(report.completions)}")
    if report.completions:
        lines += table(
            ("group", "subbands", "missing", "rows", "total s", "stages (s)", "how", "produced"),
            (
                (
                    c.group_id,
                    f"{len(c.subbands_present)}/{expected_subbands}",
                    format_subbands(c.subbands_missing),
                    c.n_rows,
                    c.total_seconds,
                    " ".join(f"{k}={v:.1f}" for k, v in c.stage_seconds.items()) or "-",
                    _how(c.reused, c.replay, c.revision),
                    c.produced_at,
                )
                for c in report.completions
            ),
        )
    times = report.conversion_times
    if times.median_s is not None and times.max_s is not None:
        lines.append(
            f"  conversion time over {times.converted} converted ({times.reused} reused, not "
            f"counted): median {times.median_s:.1f} s, max {times.max_s:.1f} s"
        )
    lines.append("")
    lines.append(f"Recent failures: {len(report.failures)}")
    if report.failures:
        lines += table(
            ("failed at", "reason", "group", "message"),
            ((f.failed_at, f.reason, f.group_id, f.message) for f in report.failures),
        )
    if report.undecodable_output_events:
        lines.append(
            f"  {report.undecodable_output_events} event(s) in the ms-ready / dead-letter "
            "topics could not be decoded by this version"
        )
    return "\n".join(lines)


def _how(reused: bool, replay: bool, revision: int) -> str:
    words = ["reused" if reused else "converted"]
    if replay:
        words.append("replay")
    if revision > 1:
        words.append(f"rev {revision}")
    return ",".join(words)


def replay_text(plan: ReplayPlan, *, dry_run: bool) -> str:
    """The human report of ``dsa110-stream replay`` (the plan, before anything is changed)."""
    lines = [
        f"Replay of {plan.topic} for consumer group {plan.consumer_group}",
        f"  window: observation times {plan.start.isoformat()} to {plan.end.isoformat()}"
        f" (UTC): {plan.events} event(s), {len(plan.groups)} group(s)",
        "",
    ]
    lines += table(
        ("partition", "committed", "new offset", "window", "events", "groups"),
        (
            (
                p.partition,
                p.committed,
                p.new_offset,
                f"{p.window_start}..{p.window_end}",
                p.events,
                _group_span(p.groups),
            )
            for p in plan.partitions
        ),
    )
    lines += [f"  partition {p.partition}: {p.note}" for p in plan.partitions if p.note]
    if plan.groups:
        lines += ["", f"Groups in the window ({len(plan.groups)}):"]
        lines += [f"  {g}" for g in _ends(plan.groups, GROUPS_LISTED // 2)]
    changing = plan.new_offsets
    lines.append("")
    if not changing:
        lines.append(
            "Nothing to change: every committed offset is already where the replay puts it."
        )
    elif dry_run:
        lines.append(
            f"Dry run: nothing changed. Without --dry-run, the committed offsets of "
            f"{len(changing)} partition(s) are set to 'new offset'."
        )
    return "\n".join(lines)


#: Group ids listed by a replay's text report (the first and last half); --json lists all.
GROUPS_LISTED = 40


def _ends(items: Sequence[str], keep: int) -> list[str]:
    """All of ``items`` if short, else the first and last ``keep`` with a marker between."""
    if len(items) <= 2 * keep:
        return list(items)
    hidden = len(items) - 2 * keep
    return [*items[:keep], f"... {hidden} more (--json lists all) ...", *items[-keep:]]


def _group_span(groups: Sequence[str]) -> str:
    if not groups:
        return "-"
    if len(groups) == 1:
        return groups[0]
    return f"{groups[0]} .. {groups[-1]} ({len(groups)})"


def replay_next_steps(plan: ReplayPlan, common_flags: str) -> str:
    """What to run after the offsets were reset (docs/operations.md explains each step).

    ``common_flags``: the ``--config`` / ``--bootstrap-servers`` flags the operator gave,
    repeated in the suggested commands.
    """
    group = plan.consumer_group
    flags = f"{common_flags} " if common_flags else ""
    # The window's last group bounds the forced run: nothing newer is reconverted.
    until = plan.groups[-1] if plan.groups else format_group_id(plan.end)
    return "\n".join(
        [
            (
                f"Offsets of consumer group {group} reset."
                if plan.new_offsets
                else f"Offsets of consumer group {group} unchanged (already at the window)."
            )
            + " Nothing has been converted or emitted.",
            "Next:",
            "  1. To reconvert the window (its groups are finished, so a normal consumer skips",
            "     them), run ONE forced consumer; it reconverts the finished groups of the",
            f"     window (up to {until}), skips newer finished ones, converts unfinished",
            "     ones as usual, and exits once idle:",
            f"       dsa110-stream consume {flags}--group {group} --force --force-until {until} "
            "--instance-id replay-1 --idle-exit 120",
            "  2. Then start the normal consumers again, e.g.",
            "       kubectl scale statefulset <release>-dsa110-stream-consumer --replicas=<N>",
            f"  3. Watch progress: dsa110-stream status {flags}--group {group}",
            "  To only resume unfinished work (no reconversion), skip step 1.",
        ]
    )
