"""Acceptance: kill -9 at every step (and at random times); nothing lost, nothing twice."""

from __future__ import annotations

import json
import random
import time

import pytest

from tests.consumer.checks import (
    assert_exactly_once,
    assert_offsets_committed_to_end,
    assert_output_is_clean,
)
from tests.consumer.harness import InputEvent, dump_events, publish, tail

pytestmark = [pytest.mark.broker, pytest.mark.casa, pytest.mark.slow]

#: Named crash points with the arrival at which to die; each run must really die there.
NAMED_KILLS = (
    "after_poll:50",
    "after_aggregate:90",
    "before_convert:2",
    "mid_convert:2:0.3",
    "after_rename:2",
    "after_produce:2",
    "after_send_offsets:2",
    "before_commit:3",
    "after_commit:2",
    "after_rename:1",
    "after_produce:1",
)
#: External kill -9 at random wall-clock times (seconds after start).
RANDOM_KILLS = 4
GARBAGE = b"\xde\xad\xbe\xef not an event"


def interleaved(dumps, root, partial, few):
    """Events of consecutive dump pairs interleaved, so groups finish above the committed offset."""
    per_dump = []
    for index, dump in enumerate(dumps):
        if index == partial:
            per_dump.append(dump_events(dump, root, [sb for sb in range(16) if sb != 7]))
        elif index == few:
            per_dump.append(dump_events(dump, root, [0, 1]))
        else:
            per_dump.append(dump_events(dump, root))
    events = []
    for first in range(0, len(per_dump), 2):
        pair = per_dump[first : first + 2]
        for position in range(16):
            events += [evs[position] for evs in pair if position < len(evs)]
    return events


def test_kill_minus_nine_everywhere(consumer_setup, sim_root):
    setup = consumer_setup
    root, sim = sim_root
    dumps = sim.dumps[:22]
    partial, few = 20, 21
    setup.settings_env = {
        "DSA110_GROUP_TIMEOUT_S": "6",
        "DSA110_MIN_SUBBANDS": "12",
        "DSA110_OBSERVATION_HORIZON_S": "100000",
        "DSA110_BACKOFF_BASE_S": "1",
    }
    events = interleaved(dumps, root, partial, few)
    garbage = InputEvent(events[40].group_id, 0, "", events[40].filename_timestamp, raw=GARBAGE)
    events.insert(41, garbage)
    publish(setup.bootstrap, setup.topics.subbands, events, root)
    extra = ["--static-membership", "--idle-exit", "8"]
    started = time.monotonic()

    kills = []
    for plan in NAMED_KILLS:
        run = setup.run(extra=extra, crash_at=plan)
        assert run.killed, f"{plan}: expected a SIGKILL, got {run.returncode}\n{tail(run.log_path)}"
        kills.append((plan, round(run.seconds, 1)))
    rng = random.Random(110)
    for _ in range(RANDOM_KILLS):
        delay = rng.uniform(3.0, 12.0)
        run = setup.run(extra=extra, kill_after_s=delay)
        kills.append((f"random@{delay:.1f}s", run.returncode))
    final = setup.run(extra=extra)
    assert final.returncode == 0, tail(final.log_path)

    groups = [dump_events(d, root)[0].group_id for d in dumps]
    ms_groups = [g for i, g in enumerate(groups) if i != few]
    ready, dead = assert_exactly_once(setup, ms_groups, dead_groups=[groups[few]])
    assert ready[groups[partial]].record["subbands_missing"] == [7]
    undecodable = [e for e in dead if e.record["reason"] == "UNDECODABLE"]
    assert len(undecodable) == 1 and undecodable[0].record["original"] == GARBAGE
    assert {e.record["reason"] for e in dead} == {"UNDECODABLE", "INCOMPLETE_GROUP"}
    assert_output_is_clean(setup, ready)
    assert_offsets_committed_to_end(setup)
    figures = {
        "groups": len(groups),
        "events": len(events),
        "kills": kills,
        "runs": setup.runs,
        "seconds": round(time.monotonic() - started, 1),
    }
    print("CRASH-TEST", json.dumps(figures))
