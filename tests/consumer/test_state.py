"""The pure aggregation state: verdicts, closing, committable offsets (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumer.reading_clock import ReadingClock
from consumer.state import (
    CloseAction,
    CloseReason,
    FinishedGroup,
    FinishedRecord,
    FinishKind,
    GroupPolicy,
    PartitionState,
    Phase,
    SubbandEntry,
    Verdict,
    backoff_s,
    close_action,
)

T0 = datetime(2026, 11, 20, 10, 2, 45, tzinfo=UTC)
POLICY = GroupPolicy(
    expected_subbands=16, min_subbands=12, group_timeout_s=100.0, observation_horizon_s=773.0
)


def gid(dump: int) -> str:
    return (T0 + timedelta(seconds=309 * dump)).strftime("%Y-%m-%dT%H:%M:%S")


def gtime(dump: int) -> datetime:
    return T0 + timedelta(seconds=309 * dump)


def entry(subband: int, offset: int, name: str | None = None) -> SubbandEntry:
    rel = name or f"f_sb{subband:02d}.hdf5"
    return SubbandEntry(subband, offset, rel, Path("/data") / rel)


def feed(
    state: PartitionState, dump: int, subbands: list[int], first_offset: int, now: float = 0.0
):
    """Add subbands of one dump at consecutive offsets, the way the service does."""
    offset = first_offset
    for sb in subbands:
        verdict = state.classify(
            gid(dump),
            sb,
            f"f_sb{sb:02d}.hdf5",
            expected_subbands=16,
            finished=None,
            already_rejected=False,
        )
        assert verdict is Verdict.ADD
        state.observe(offset, gtime(dump))
        state.add(gid(dump), gtime(dump), entry(sb, offset), now)
        offset += 1
    return offset


def test_committable_is_position_when_nothing_is_open():
    state = PartitionState("t", 0)
    assert state.committable() is None
    state.observe(41, gtime(0))
    assert state.committable() == 42


def test_committable_is_first_offset_of_oldest_open_group():
    state = PartitionState("t", 0, position=10)
    end = feed(state, 0, [0, 1, 2], 10)
    end = feed(state, 1, list(range(16)), end)
    assert state.committable() == 10
    # Finishing the newer group does not move the offset past the older open one.
    state.remove_group(gid(1))
    assert state.committable() == 10
    state.remove_group(gid(0))
    assert state.committable() == end


def test_committable_counts_finishing_items_as_done():
    state = PartitionState("t", 0)
    end = feed(state, 0, list(range(16)), 0)
    end = feed(state, 1, [0], end)
    assert state.committable(finishing_groups=[gid(0)]) == 16
    assert state.committable(finishing_groups=[gid(0), gid(1)]) == end


def test_pending_dead_letter_holds_the_offset_until_committed():
    state = PartitionState("t", 0)
    state.observe(0, None)
    state.reject(0, event=None)  # type: ignore[arg-type]
    state.observe(1, None)
    assert state.committable() == 0
    assert state.committable(finishing_rejections=[0]) == 2
    state.remove_rejection(0)
    assert state.committable() == 2


def test_rebuilding_from_committed_offset_gives_the_same_open_groups():
    """Replaying the log from committable() rebuilds exactly the unfinished groups."""
    log = []  # (offset, dump, subband)
    offset = 0
    # Interleave three dumps as out-of-order arrival would.
    for sb in range(16):
        for dump in (0, 1, 2):
            if dump == 0 and sb == 15:
                continue  # dump 0 never completes
            log.append((offset, dump, sb))
            offset += 1
    state = PartitionState("t", 0)
    for off, dump, sb in log:
        state.observe(off, gtime(dump))
        state.add(gid(dump), gtime(dump), entry(sb, off), 0.0)
    state.remove_group(gid(1))  # dump 1 finished
    start = state.committable()
    assert start == 0
    record = FinishedRecord()
    record.add_group(FinishedGroup(gid(1), frozenset(range(16)), FinishKind.MS_READY, 1))
    rebuilt = PartitionState("t", 0, position=start)
    for off, dump, sb in log:
        if off < start:
            continue
        verdict = rebuilt.classify(
            gid(dump),
            sb,
            f"f_sb{sb:02d}.hdf5",
            expected_subbands=16,
            finished=record.group(gid(dump)),
            already_rejected=False,
        )
        rebuilt.observe(off, gtime(dump))
        if verdict is Verdict.ADD:
            rebuilt.add(gid(dump), gtime(dump), entry(sb, off), 0.0)
        else:
            assert verdict is Verdict.FINISHED
    assert {g: sorted(x.subbands) for g, x in rebuilt.groups.items()} == {
        g: sorted(x.subbands) for g, x in state.groups.items()
    }
    assert {g: x.first_offset for g, x in rebuilt.groups.items()} == {
        g: x.first_offset for g, x in state.groups.items()
    }


@pytest.mark.parametrize(
    ("finished_subbands", "subband", "expected"),
    [({0, 1, 2}, 1, Verdict.FINISHED), ({0, 1, 2}, 7, Verdict.LATE)],
)
def test_events_of_finished_groups(finished_subbands, subband, expected):
    state = PartitionState("t", 0)
    finished = FinishedGroup(gid(0), frozenset(finished_subbands), FinishKind.DEAD_LETTER)
    verdict = state.classify(
        gid(0), subband, "x", expected_subbands=16, finished=finished, already_rejected=False
    )
    assert verdict is expected


def test_already_rejected_message_is_skipped_before_anything_else():
    state = PartitionState("t", 0)
    finished = FinishedGroup(gid(0), frozenset(), FinishKind.MS_READY, 1)
    assert (
        state.classify(
            gid(0), 3, "x", expected_subbands=16, finished=finished, already_rejected=True
        )
        is Verdict.ALREADY_REJECTED
    )


def test_duplicates_and_conflicts_in_an_open_group():
    state = PartitionState("t", 0)
    feed(state, 0, [3], 0)
    same = state.classify(
        gid(0), 3, "f_sb03.hdf5", expected_subbands=16, finished=None, already_rejected=False
    )
    other = state.classify(
        gid(0), 3, "g_sb03.hdf5", expected_subbands=16, finished=None, already_rejected=False
    )
    assert same is Verdict.DUPLICATE
    assert other is Verdict.CONFLICT


def test_new_subband_of_a_closed_group_is_late():
    state = PartitionState("t", 0)
    feed(state, 0, list(range(13)), 0)
    state.groups[gid(0)].phase = Phase.CONVERTING
    verdict = state.classify(
        gid(0), 14, "f_sb14.hdf5", expected_subbands=16, finished=None, already_rejected=False
    )
    assert verdict is Verdict.LATE
    with pytest.raises(ValueError, match="cannot be added"):
        state.add(gid(0), gtime(0), entry(14, 99), 0.0)


@pytest.mark.parametrize("subband", [-1, 4, 16])
def test_subband_out_of_range(subband):
    state = PartitionState("t", 0)
    verdict = state.classify(
        gid(0), subband, "x", expected_subbands=4, finished=None, already_rejected=False
    )
    assert verdict is Verdict.OUT_OF_RANGE


def test_complete_group_is_due_at_once():
    state = PartitionState("t", 0)
    feed(state, 0, list(range(16)), 0, now=5.0)
    [(group, reason)] = state.due(5.0, POLICY)
    assert group.group_id == gid(0)
    assert reason is CloseReason.COMPLETE
    assert close_action(group, reason, POLICY) is CloseAction.CONVERT


def test_incomplete_group_waits_then_times_out_on_wall_clock():
    state = PartitionState("t", 0)
    feed(state, 0, list(range(15)), 0, now=1000.0)
    assert state.due(1099.9, POLICY) == []
    [(group, reason)] = state.due(1100.0, POLICY)
    assert reason is CloseReason.WALL_TIMEOUT
    assert close_action(group, reason, POLICY) is CloseAction.CONVERT  # 15 >= 12: partial


def test_group_with_too_few_subbands_is_dead_lettered():
    state = PartitionState("t", 0)
    feed(state, 0, [0, 1], 0, now=0.0)
    [(group, reason)] = state.due(100.0, POLICY)
    assert close_action(group, reason, POLICY) is CloseAction.DEAD_LETTER


def test_observation_horizon_closes_before_the_wall_clock():
    state = PartitionState("t", 0)
    end = feed(state, 0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 0)
    end = feed(state, 1, [0], end)
    end = feed(state, 2, [0], end)
    assert state.due(0.0, POLICY) == []  # two dumps later: 618 s < 773 s
    feed(state, 3, [0], end)  # three dumps later: 927 s
    closing = state.due(0.0, POLICY)
    assert [(g.group_id, r) for g, r in closing] == [(gid(0), CloseReason.HORIZON)]


def test_only_collecting_groups_are_due():
    state = PartitionState("t", 0)
    feed(state, 0, list(range(16)), 0)
    state.groups[gid(0)].phase = Phase.QUEUED
    assert state.due(0.0, POLICY) == []


def test_finished_record_prefers_ms_and_higher_revisions():
    record = FinishedRecord()
    record.add_group(FinishedGroup("g", frozenset({1}), FinishKind.MS_READY, 2))
    record.add_group(FinishedGroup("g", frozenset({1, 2}), FinishKind.MS_READY, 1))
    record.add_group(FinishedGroup("g", frozenset(), FinishKind.DEAD_LETTER))
    assert record.group("g") == FinishedGroup("g", frozenset({1}), FinishKind.MS_READY, 2)
    record.add_rejection("t", 0, 5)
    assert record.is_rejected("t", 0, 5)
    assert not record.is_rejected("t", 1, 5)


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_s(a, 5.0, 30.0) for a in (1, 2, 3, 4, 5)] == [5.0, 10.0, 20.0, 30.0, 30.0]
    with pytest.raises(ValueError):
        backoff_s(0, 5.0, 30.0)


def test_policy_rejects_min_above_expected():
    with pytest.raises(ValueError):
        GroupPolicy(expected_subbands=4, min_subbands=5)


def test_reading_clock_stops_while_paused():
    clock = ReadingClock()
    assert clock.read_time(10.0) == 10.0
    clock.pause(10.0)
    clock.pause(12.0)  # already paused: the first pause counts
    assert clock.read_time(25.0) == 10.0
    clock.resume(30.0)
    clock.resume(31.0)  # not paused: nothing changes
    assert clock.read_time(34.0) == 14.0
    clock.pause(40.0)
    clock.resume(45.0)
    assert clock.read_time(50.0) == 25.0


def test_a_pause_does_not_time_a_group_out():
    """A group opened before the partitions were paused times out only after
    group_timeout_s of reading: its last subbands may wait unread behind the pause."""
    clock = ReadingClock()
    state = PartitionState("t", 0)
    state.add(gid(0), gtime(0), entry(0, 0), clock.read_time(1000.0))
    clock.pause(1010.0)  # every worker busy for 500 s
    clock.resume(1510.0)
    assert state.due(clock.read_time(1520.0), POLICY) == []  # 20 s of reading
    [(group, reason)] = state.due(clock.read_time(1600.0), POLICY)  # 100 s of reading
    assert group.group_id == gid(0) and reason is CloseReason.WALL_TIMEOUT
