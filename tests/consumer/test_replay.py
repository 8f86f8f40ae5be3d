"""Acceptance: an offset reset re-reads finished groups; nothing is re-emitted or reconverted
unless --force, and --force-until bounds what --force reconverts."""

from __future__ import annotations

import pytest

from tests.consumer.checks import assert_exactly_once, assert_offsets_committed_to_end
from tests.consumer.harness import (
    by_group,
    dump_events,
    publish,
    read_events,
    reset_offsets,
    tail,
)

pytestmark = [pytest.mark.broker, pytest.mark.casa]


def ms_state(setup, groups):
    """Modification time and manifest-level listing of each MS (changes if it is rewritten)."""
    found = {}
    for group in groups:
        path = setup.output_dir / f"{group}.ms"
        found[group] = (path.stat().st_mtime_ns, sorted(p.name for p in path.iterdir()))
    return found


def test_reset_to_before_finished_groups_reemits_nothing(consumer_setup, sim_root):
    setup = consumer_setup
    root, sim = sim_root
    dumps = sim.dumps[:3]
    events = [e for dump in dumps for e in dump_events(dump, root)]
    publish(setup.bootstrap, setup.topics.subbands, events, root)
    groups = sorted({e.group_id for e in events})

    first = setup.run(extra=["--idle-exit", "5"])
    assert first.returncode == 0, tail(first.log_path)
    assert first.summary["converted"] == 3
    assert_exactly_once(setup, groups)
    before = ms_state(setup, groups)

    # What an operator's `kafka-consumer-groups --reset-offsets --to-earliest` does.
    reset_offsets(setup.bootstrap, setup.group, setup.topics.subbands, 0)
    replay = setup.run(extra=["--idle-exit", "5"])

    assert replay.returncode == 0, tail(replay.log_path)
    assert replay.summary["converted"] == 0
    assert replay.summary["reused"] == 0  # not even a manifest check: the record said finished
    assert replay.summary["groups_finished"] == 0
    assert replay.summary["skipped_finished"] == len(events)
    assert_exactly_once(setup, groups)  # still one event per group
    assert ms_state(setup, groups) == before
    assert_offsets_committed_to_end(setup)

    reset_offsets(setup.bootstrap, setup.group, setup.topics.subbands, 0)
    forced = setup.run(extra=["--idle-exit", "5", "--force"])

    assert forced.returncode == 0, tail(forced.log_path)
    assert forced.summary["converted"] == 3
    ready = by_group(read_events(setup.bootstrap, setup.topics.ms_ready), "MeasurementSetReady")
    for group in groups:
        revisions = sorted((e.record["revision"], e.record["replay"]) for e in ready[group])
        assert revisions == [(1, False), (2, True)]
    assert all(ms_state(setup, [g])[g][0] != before[g][0] for g in groups)

    # An old window: --force-until bounds the forced run to the window's groups.
    after_forced = ms_state(setup, groups)
    reset_offsets(setup.bootstrap, setup.group, setup.topics.subbands, 0)
    bounded = setup.run(extra=["--idle-exit", "5", "--force", "--force-until", groups[0]])

    assert bounded.returncode == 0, tail(bounded.log_path)
    assert bounded.summary["converted"] == 1
    ready = by_group(read_events(setup.bootstrap, setup.topics.ms_ready), "MeasurementSetReady")
    assert sorted(e.record["revision"] for e in ready[groups[0]]) == [1, 2, 3]
    for group in groups[1:]:
        assert sorted(e.record["revision"] for e in ready[group]) == [1, 2]
        assert ms_state(setup, [group]) == {group: after_forced[group]}
    assert ms_state(setup, [groups[0]])[groups[0]][0] != after_forced[groups[0]][0]
    assert_offsets_committed_to_end(setup)
