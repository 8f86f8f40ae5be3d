"""Acceptance: a second consumer joins mid-run, then the first is killed; same guarantees."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.consumer.checks import (
    assert_exactly_once,
    assert_offsets_committed_to_end,
    assert_output_is_clean,
)
from tests.consumer.harness import (
    dump_events,
    log_events,
    parse_summary,
    publish,
    tail,
    wait_for_log,
)

pytestmark = [pytest.mark.broker, pytest.mark.casa, pytest.mark.slow]


def test_consumer_added_then_killed(consumer_setup, sim_root):
    setup = consumer_setup
    root, sim = sim_root
    dumps = sim.dumps[:20]
    events = [e for dump in dumps for e in dump_events(dump, root)]
    publish(setup.bootstrap, setup.topics.subbands, events, root)
    started = time.monotonic()

    first, first_log = setup.start("a", ["--idle-exit", "60"])
    wait_for_log(first_log, "group finished", count=3)
    second, second_log = setup.start("b", ["--idle-exit", "30"])
    # The cooperative rebalance hands some of a's partitions (maybe mid-conversion) to b.
    wait_for_log(first_log, "partition revoked", count=1, timeout=60)
    wait_for_log(second_log, "group finished", count=2)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    finished_by_a = len(log_events(first_log, "group finished"))
    stdout, _ = second.communicate(timeout=400)
    assert second.returncode == 0, tail(second_log)

    groups = sorted({e.group_id for e in events})
    ready, _ = assert_exactly_once(setup, groups)
    assert_output_is_clean(setup, ready)
    assert_offsets_committed_to_end(setup)
    summary = parse_summary(stdout)
    assert summary is not None
    # b took over a's partitions after the kill and finished what a had not (a kill right
    # after a commit, before a's log line, makes the sum smaller: hence <=).
    assert summary["groups_finished"] >= 1
    assert finished_by_a + summary["groups_finished"] <= len(groups)
    print(
        "REBALANCE-TEST",
        json.dumps(
            {
                "groups": len(groups),
                "finished_by_a": finished_by_a,
                "finished_by_b": summary["groups_finished"],
                "discarded_results_a": len(
                    log_events(
                        first_log,
                        "conversion result discarded: the partition was revoked meanwhile",
                    )
                ),
                "seconds": round(time.monotonic() - started, 1),
            }
        ),
    )


def test_frozen_owner_is_fenced_when_it_wakes_up(consumer_setup, sim_root):
    """A zombie: the owner freezes (SIGSTOP) mid-conversion past its session timeout, another
    consumer takes over and finishes everything; when the zombie wakes up with its finished
    conversion, it must not emit (its partitions are gone, its generation is stale)."""
    setup = consumer_setup
    root, sim = sim_root
    events = [e for dump in sim.dumps[:6] for e in dump_events(dump, root)]
    publish(setup.bootstrap, setup.topics.subbands, events, root)
    groups = sorted({e.group_id for e in events})

    zombie, zombie_log = setup.start("zombie", ["--idle-exit", "600"])
    wait_for_log(zombie_log, "conversion started")
    zombie.send_signal(signal.SIGSTOP)  # its worker keeps converting
    try:
        heir, heir_log = setup.start("heir", ["--idle-exit", "10"])
        wait_for_log(heir_log, "group finished", count=len(groups), timeout=240)
    finally:
        zombie.send_signal(signal.SIGCONT)
    time.sleep(8)  # the zombie notices, tries, is refused or drops the partitions
    zombie.send_signal(signal.SIGTERM)
    zombie.communicate(timeout=120)
    heir.communicate(timeout=120)

    assert heir.returncode == 0, tail(heir_log)
    ready, _ = assert_exactly_once(setup, groups)
    assert_output_is_clean(setup, ready)
    assert_offsets_committed_to_end(setup)
    assert log_events(zombie_log, "group finished") == []
    defences = {
        "discarded": len(
            log_events(
                zombie_log, "conversion result discarded: the partition was revoked meanwhile"
            )
        ),
        "aborted": len(log_events(zombie_log, "finishing aborted; will retry")),
        "lost": len(log_events(zombie_log, "partition lost")),
    }
    assert sum(defences.values()) >= 1, tail(zombie_log)
    print("ZOMBIE-TEST", json.dumps(defences))
