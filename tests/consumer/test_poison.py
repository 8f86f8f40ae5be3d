"""Acceptance: garbage and unusable events go to the dead-letter topic; the consumer goes on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.codec import EventCodec
from tests.consumer.checks import (
    assert_exactly_once,
    assert_offsets_committed_to_end,
    assert_output_is_clean,
)
from tests.consumer.harness import (
    InputEvent,
    dump_events,
    publish,
    read_events,
    reset_offsets,
    tail,
)

pytestmark = [pytest.mark.broker, pytest.mark.casa]

STAMP = datetime(2025, 10, 2, 9, 0, 0, tzinfo=UTC)
OTHER_GROUP = "2025-10-02T09:00:00"


def wrong_schema_payload() -> bytes:
    """A valid event of another schema (a dead letter) published on the subbands topic."""
    return EventCodec().encode(
        "DeadLetter",
        {
            "event_id": "4b0e4b8e-3f0e-4a53-9d7c-6f1de2a1e0a1",
            "reason": "UNKNOWN",
            "message": "misrouted",
            "attempts": 1,
            "failed_at": STAMP,
            "producer_host": "test",
            "producer_version": "0",
        },
    )


def test_poison_events_are_dead_lettered_and_later_groups_complete(consumer_setup, sim_root):
    setup = consumer_setup
    root, sim = sim_root
    good = sim.dumps[0]
    poison = [
        InputEvent(OTHER_GROUP, 0, "", STAMP, raw=b"\x00\x00\x00"),  # truncated header
        InputEvent(OTHER_GROUP, 0, "", STAMP, raw=b"\xffgarbage bytes"),  # bad magic byte
        InputEvent(OTHER_GROUP, 0, "", STAMP, raw=wrong_schema_payload()),
        InputEvent(OTHER_GROUP, 3, "../../../etc/passwd", STAMP),
        InputEvent(OTHER_GROUP, 4, "incoming/2025-10-02T09:00:00_sb04.hdf5", STAMP),
        InputEvent(OTHER_GROUP, 16, "incoming/x_sb16.hdf5", STAMP),
    ]
    # Everything in one partition, the good group after the poison.
    events = poison + dump_events(good, root)
    publish(setup.bootstrap, setup.topics.subbands, events, root, partition=1)

    run = setup.run(extra=["--idle-exit", "5"])

    assert run.returncode == 0, tail(run.log_path)
    good_id = events[-1].group_id
    ready, dead = assert_exactly_once(setup, [good_id])
    assert_output_is_clean(setup, ready)
    assert_offsets_committed_to_end(setup)
    reasons = [(e.record["source_offset"], e.record["reason"]) for e in dead]
    assert sorted(reasons) == [
        (0, "UNDECODABLE"),
        (1, "UNDECODABLE"),
        (2, "UNKNOWN"),
        (3, "OUTSIDE_DATA_ROOT"),
        (4, "MISSING_FILE"),
        (5, "OUT_OF_RANGE"),
    ]
    for letter in dead:
        assert letter.record["source_topic"] == setup.topics.subbands
        assert letter.record["source_partition"] == 1
    assert dead[0].record["original"] == b"\x00\x00\x00"

    # A re-read of the poison after an offset reset dead-letters nothing twice.
    reset_offsets(setup.bootstrap, setup.group, setup.topics.subbands, 0)
    again = setup.run(extra=["--idle-exit", "5"])
    assert again.returncode == 0, tail(again.log_path)
    assert len(read_events(setup.bootstrap, setup.topics.dead_letter)) == len(dead)
    assert_exactly_once(setup, [good_id])
