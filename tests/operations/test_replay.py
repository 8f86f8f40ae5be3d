"""``dsa110-stream replay`` against the real broker: window offsets, dry run, reset, refusal."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from confluent_kafka import Consumer

from converter.grouping import format_group_id

pytestmark = pytest.mark.broker

SUBBANDS = range(4)  # four events per group keep the offsets easy to count


def _window_args(base, consumer_group):
    return (
        "--group",
        consumer_group,
        "--from",
        (base + timedelta(minutes=4)).isoformat(),
        "--to",
        (base + timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%S"),  # naive = UTC
    )


def _publish_two_partitions(cluster, base):
    for minutes in (0, 5, 10, 15):  # partition 0: offsets 0-15
        cluster.publish_subbands(0, base + timedelta(minutes=minutes), SUBBANDS)
    for minutes in (2, 7, 12):  # partition 1: offsets 0-11
        cluster.publish_subbands(1, base + timedelta(minutes=minutes), SUBBANDS)


def test_dry_run_reports_the_window_and_changes_nothing_then_replay_resets(
    cluster, run_cli, consumer_group, recent_base
):
    base = recent_base
    _publish_two_partitions(cluster, base)
    # Partition 1 still has an unfinished group at offset 0: the replay must not skip it.
    cluster.commit(consumer_group, {0: 16, 1: 0})

    dry = run_cli("replay", *_window_args(base, consumer_group), "--dry-run", "--json")

    assert dry.code == 0, dry.err
    plan = json.loads(dry.out)
    rows = {p["partition"]: p for p in plan["partitions"]}
    summary = {
        p: (r["committed"], r["window_start"], r["window_end"], r["new_offset"], r["events"])
        for p, r in rows.items()
    }
    assert summary == {
        0: (16, 4, 12, 4, 8),
        1: (0, 4, 8, 0, 4),  # kept: moving forward would skip the group at offset 0
        2: (None, 0, 0, 0, 0),  # empty partition, nothing committed
    }
    assert rows[0]["groups"] == [format_group_id(base + timedelta(minutes=m)) for m in (5, 10)]
    assert rows[1]["groups"] == [format_group_id(base + timedelta(minutes=7))]
    assert "kept" in rows[1]["note"]
    assert plan["events"] == 12
    assert plan["groups"] == [format_group_id(base + timedelta(minutes=m)) for m in (5, 7, 10)]
    assert plan["dry_run"] is True
    assert plan["committed_after"] is None
    assert cluster.committed(consumer_group, [0, 1, 2]) == {0: 16, 1: 0, 2: None}

    text = run_cli("replay", *_window_args(base, consumer_group), "--dry-run")
    assert "Dry run: nothing changed" in text.out
    assert cluster.committed(consumer_group, [0, 1, 2]) == {0: 16, 1: 0, 2: None}

    done = run_cli("replay", *_window_args(base, consumer_group))

    assert done.code == 0, done.err
    assert cluster.committed(consumer_group, [0, 1, 2]) == {0: 4, 1: 0, 2: 0}
    assert "--force" in done.out  # how to reconvert comes next
    assert f"--force-until {plan['groups'][-1]}" in done.out  # bounded to the window
    assert f"--group {consumer_group}" in done.out


def test_replay_is_refused_while_the_group_has_members(
    cluster, run_cli, consumer_group, recent_base
):
    base = recent_base
    _publish_two_partitions(cluster, base)
    cluster.commit(consumer_group, {0: 16, 1: 12})
    member = Consumer(
        {
            "bootstrap.servers": cluster.bootstrap,
            "group.id": consumer_group,
            "enable.auto.commit": False,
            "client.id": "still-running-consumer",
        }
    )
    member.subscribe([cluster.topics.subbands])
    deadline = time.monotonic() + 60
    while not member.assignment():
        assert time.monotonic() < deadline, "the test consumer never joined its group"
        member.poll(0.5)
    try:
        refused = run_cli("replay", *_window_args(base, consumer_group))
        assert refused.code == 1
        assert "active member" in refused.err
        assert "still-running-consumer" in refused.err
        assert "kubectl scale statefulset" in refused.err
        assert cluster.committed(consumer_group, [0, 1]) == {0: 16, 1: 12}

        # A dry run is allowed while consumers run: it changes nothing.
        assert run_cli("replay", *_window_args(base, consumer_group), "--dry-run").code == 0
    finally:
        member.close()

    done = run_cli("replay", *_window_args(base, consumer_group))
    assert done.code == 0, done.err
    assert cluster.committed(consumer_group, [0, 1]) == {0: 4, 1: 4}


def test_replay_rejects_an_empty_window(cluster, run_cli, consumer_group, recent_base):
    result = run_cli(
        "replay",
        "--group",
        consumer_group,
        "--from",
        recent_base.isoformat(),
        "--to",
        recent_base.isoformat(),
    )
    assert result.code == 2
    assert "must be later than --from" in result.err
