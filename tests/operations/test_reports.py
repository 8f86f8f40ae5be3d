"""The pure parts of the operator commands: aggregation, offset rules, formatting, time input."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from consumer.state import FinishedGroup, FinishedRecord, FinishKind
from operations.cli import parse_utc
from operations.cluster import Watermarks
from operations.render import format_duration, format_subbands, table
from operations.replay import new_offset
from operations.status import (
    Completion,
    PendingEvents,
    conversion_times,
    lag_rows,
    total_seconds,
)

TOPIC = "subbands"
NOW = datetime(2025, 10, 2, 12, 0, tzinfo=UTC)


def _event(group_id: str, subband: int) -> dict:
    return {"group_id": group_id, "subband": subband}


def test_pending_events_leave_out_finished_groups_and_rejected_messages():
    pending = PendingEvents()
    for offset, subband in enumerate(range(16)):
        pending.add(0, offset, "SubbandFile", _event("2025-10-02T10:00:00", subband))
    for offset, subband in enumerate([0, 1, 2, 5, 5], start=16):  # 5 twice: counted once
        pending.add(0, offset, "SubbandFile", _event("2025-10-02T10:05:00", subband))
    pending.add(0, 21, "SubbandFile", _event("2025-10-02T10:05:00", 9))  # dead-lettered
    pending.add(0, 22, None, {})  # undecodable
    pending.add(0, 23, "SubbandFile", _event("not-a-time", 1))
    finished = FinishedRecord()
    finished.add_group(
        FinishedGroup("2025-10-02T10:00:00", frozenset(range(16)), FinishKind.MS_READY, 1)
    )
    finished.add_rejection(TOPIC, 0, 21)

    groups, finished_events, rejected = pending.split(finished, TOPIC, 16, NOW)

    assert [g.group_id for g in groups] == ["2025-10-02T10:05:00"]
    group = groups[0]
    assert group.subbands_present == (0, 1, 2, 5)
    assert group.subbands_missing == (3, 4, *range(6, 16))
    assert (group.first_offset, group.events) == (16, 5)
    assert group.age_s == pytest.approx(timedelta(hours=1, minutes=55).total_seconds())
    assert (finished_events, rejected, pending.unusable) == (16, 1, 2)
    assert pending.oldest_observation() == datetime(2025, 10, 2, 10, 0, tzinfo=UTC)


def test_lag_counts_from_the_committed_offset_or_from_the_oldest_event():
    marks = {0: Watermarks(0, 40, 40), 1: Watermarks(10, 30, 30), 2: Watermarks(50, 60, 60)}
    rows = lag_rows(marks, {0: 25, 1: None, 2: 20})  # 2: committed offset already deleted
    assert [(r.partition, r.committed, r.lag) for r in rows] == [
        (0, 25, 15),
        (1, None, 20),
        (2, 20, 10),
    ]


def test_a_replay_never_moves_a_committed_offset_forward():
    assert new_offset(None, 7) == (7, "")
    assert new_offset(12, 7) == (7, "")
    assert new_offset(7, 7) == (7, "")
    kept, note = new_offset(3, 7)
    assert kept == 3
    assert "unfinished" in note


def _completion(total: float, reused: bool) -> Completion:
    return Completion(
        group_id="g",
        partition=0,
        offset=0,
        ms_path="/x.ms",
        subbands_present=(),
        subbands_missing=(),
        n_rows=1,
        total_seconds=total,
        stage_seconds={},
        reused=reused,
        revision=1,
        replay=False,
        produced_at=NOW,
    )


def test_conversion_times_leave_out_reused_measurement_sets():
    times = conversion_times(
        [_completion(10, False), _completion(0.1, True), _completion(30, False)]
    )
    assert (times.converted, times.reused, times.median_s, times.max_s) == (2, 1, 20.0, 30.0)
    empty = conversion_times([_completion(0.1, True)])
    assert (empty.median_s, empty.max_s) == (None, None)


def test_total_seconds_prefers_the_converters_total():
    assert total_seconds({"read": 1.5, "write": 2.0}) == 3.5
    assert total_seconds({"read": 1.5, "write": 2.0, "total": 4.0}) == 4.0


def test_formatting():
    assert format_subbands([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert format_subbands([]) == "-"
    assert format_duration(7.9) == "7s"
    assert format_duration(95) == "1m35s"
    assert format_duration(3725) == "1h02m"
    assert format_duration(2 * 86400 + 3 * 3600) == "2d03h"
    assert table(("a", "n"), [("x", 1), ("yyy", 10)]) == ["  a     n", "  x     1", "  yyy  10"]


def test_times_without_an_offset_are_utc():
    assert parse_utc("2025-10-02T10:00:00") == datetime(2025, 10, 2, 10, tzinfo=UTC)
    assert parse_utc("2025-10-02T12:00:00+02:00") == datetime(2025, 10, 2, 10, tzinfo=UTC)
    assert parse_utc("2025-10-02T10:00:00Z") == datetime(2025, 10, 2, 10, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO time"):
        parse_utc("yesterday")
