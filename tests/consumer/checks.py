"""Assertions shared by the acceptance tests: exactly once, MSs readable, nothing partial."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tests.consumer.harness import ConsumerSetup, ReadEvent, by_group, read_events, uncommitted


def assert_exactly_once(
    setup: ConsumerSetup,
    ms_groups: Iterable[str],
    dead_groups: Iterable[str] = (),
) -> tuple[dict[str, ReadEvent], list[ReadEvent]]:
    """One MS-ready per group in ``ms_groups``, one group dead letter per ``dead_groups``.

    Returns the MS-ready events by group and every dead letter (for further checks).
    """
    ms_ready = read_events(setup.bootstrap, setup.topics.ms_ready)
    dead = read_events(setup.bootstrap, setup.topics.dead_letter)
    ready = by_group(ms_ready, "MeasurementSetReady")
    counts = {group: len(events) for group, events in ready.items()}
    assert counts == {group: 1 for group in ms_groups}, f"MS-ready events per group: {counts}"
    group_dead = by_group(
        [e for e in dead if e.record["reason"] in ("INCOMPLETE_GROUP", "CONVERSION_FAILED")],
        "DeadLetter",
    )
    dead_counts = {group: len(events) for group, events in group_dead.items()}
    assert dead_counts == {group: 1 for group in dead_groups}, f"group dead letters: {dead_counts}"
    per_message = [(e.record["source_partition"], e.record["source_offset"]) for e in dead]
    assert len(per_message) == len(set(per_message)), "a message was dead-lettered twice"
    return {group: events[0] for group, events in ready.items()}, dead


def assert_output_is_clean(setup: ConsumerSetup, ready: dict[str, ReadEvent]) -> None:
    """Every MS-ready path is a readable MS; nothing else (partial) sits at a final path."""
    from casacore.tables import table

    final = {p.name for p in setup.output_dir.iterdir() if p != setup.scratch_dir}
    assert final == {f"{group}.ms" for group in ready}, f"unexpected entries: {sorted(final)}"
    for group, event in ready.items():
        path = Path(event.record["ms_path"])
        assert path == (setup.output_dir / f"{group}.ms").resolve()
        with table(str(path), ack=False) as main:
            assert main.nrows() == event.record["n_rows"] > 0


def assert_offsets_committed_to_end(setup: ConsumerSetup) -> None:
    behind = uncommitted(setup.bootstrap, setup.group, setup.topics.subbands)
    assert behind == {}, f"committed offsets short of the end: {behind}"
