"""``dsa110-stream status`` against the real broker: lag, open groups, completions, failures."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from converter.grouping import format_group_id as group_id_at

pytestmark = pytest.mark.broker

ALL = range(16)


def test_status_reports_lag_open_groups_completions_and_failures(
    cluster, run_cli, consumer_group, recent_base
):
    base = recent_base
    a, b, c = base, base + timedelta(minutes=5), base + timedelta(minutes=10)
    d, e, f = (base + timedelta(minutes=m) for m in (1, 6, 20))  # ids unique, like keys
    older = base - timedelta(hours=2)
    # Partition 0: A finished (MS-ready), B open with 12 subbands, C open without subband 3.
    cluster.publish_subbands(0, a, ALL)
    cluster.publish_subbands(0, b, range(12))
    cluster.publish_subbands(0, c, [sb for sb in ALL if sb != 3])
    # Partition 1: D consumed; E dead-lettered as incomplete (8 subbands).
    cluster.publish_subbands(1, d, ALL)
    cluster.publish_subbands(1, e, range(8))
    # Partition 2: F complete, never committed; its only MS-ready was aborted.
    cluster.publish_subbands(2, f, ALL)

    cluster.publish_ms_ready(
        0,
        a,
        present=ALL,
        stage_seconds={"read": 1.0, "write": 2.0},
        produced_at=base + timedelta(minutes=30),
    )
    cluster.publish_ms_ready(
        1,
        older,
        present=ALL,
        stage_seconds={"total": 0.5},
        reused=True,
        produced_at=base + timedelta(minutes=31),
    )
    cluster.publish_ms_ready(
        2,
        older + timedelta(minutes=5),
        present=range(14),
        stage_seconds={"total": 5.0},
        produced_at=base + timedelta(minutes=32),
    )
    cluster.publish_ms_ready(
        2,
        f,
        present=ALL,
        stage_seconds={"total": 99.0},
        produced_at=base + timedelta(minutes=33),
        abort=True,
    )
    cluster.publish_dead_letter(
        1,
        reason="INCOMPLETE_GROUP",
        message="only 8 of 16 subbands",
        group_time=e,
        subbands=range(8),
        failed_at=base + timedelta(minutes=40),
    )
    cluster.publish_dead_letter(
        0,
        reason="CORRUPT_FILE",
        message="bad_sb03.hdf5: Nblts != Nbls * Ntimes",
        failed_at=base + timedelta(minutes=41),
        from_consumer=False,
    )
    cluster.commit(consumer_group, {0: 0, 1: 16})

    result = run_cli("status", "--group", consumer_group, "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["consumer_group"] == consumer_group
    assert report["group_state"] == "EMPTY"
    assert report["members"] == []
    lags = {p["partition"]: p for p in report["partitions"]}
    assert {p: (r["committed"], r["end_offset"], r["lag"]) for p, r in lags.items()} == {
        0: (0, 43, 43),
        1: (16, 24, 8),
        2: (None, 16, 16),
    }
    assert report["total_lag"] == 67

    open_groups = {g["group_id"]: g for g in report["open_groups"]}
    assert sorted(open_groups) == sorted(map(group_id_at, (b, c, f)))
    group_b = open_groups[group_id_at(b)]
    assert (group_b["partition"], group_b["first_offset"], group_b["events"]) == (0, 16, 12)
    assert group_b["subbands_present"] == list(range(12))
    assert group_b["subbands_missing"] == [12, 13, 14, 15]
    group_c = open_groups[group_id_at(c)]
    assert group_c["subbands_missing"] == [3]
    assert group_c["first_offset"] == 28
    assert 3600 - 700 < group_c["age_s"] < 3600  # observed 50 minutes ago (+ test time)
    group_f = open_groups[group_id_at(f)]
    assert (group_f["partition"], group_f["subbands_missing"]) == (2, [])
    assert report["finished_events_pending"] == 16 + 8  # A above commit 0; E above commit 16

    completions = report["completions"]
    assert [x["group_id"] for x in completions] == [
        group_id_at(older + timedelta(minutes=5)),
        group_id_at(older),
        group_id_at(a),
    ]  # newest first; the aborted one is not there
    newest = completions[0]
    assert newest["subbands_missing"] == [14, 15]
    assert newest["total_seconds"] == 5.0
    assert completions[2]["total_seconds"] == 3.0  # no "total" stage: the sum
    assert completions[2]["stage_seconds"] == {"read": 1.0, "write": 2.0}
    assert [x["reused"] for x in completions] == [False, True, False]
    assert report["conversion_times"] == {
        "converted": 2,
        "reused": 1,
        "median_s": 4.0,
        "max_s": 5.0,
    }

    failures = report["failures"]
    assert [(x["reason"], x["group_id"]) for x in failures] == [
        ("CORRUPT_FILE", None),
        ("INCOMPLETE_GROUP", group_id_at(e)),
    ]
    assert "Nblts" in failures[0]["message"]

    # Read-only: the committed offsets are exactly as before.
    assert cluster.committed(consumer_group, [0, 1, 2]) == {0: 0, 1: 16, 2: None}


def test_status_recent_limits_the_lists_and_the_table_is_readable(
    cluster, run_cli, consumer_group, recent_base
):
    base = recent_base
    for minutes in (0, 5, 10):
        cluster.publish_ms_ready(
            0,
            base + timedelta(minutes=minutes),
            present=ALL,
            stage_seconds={"total": float(minutes + 1)},
            produced_at=base + timedelta(minutes=30 + minutes),
        )
    cluster.publish_subbands(1, base + timedelta(minutes=15), [0, 1, 2, 5])
    cluster.publish_subbands(2, base + timedelta(minutes=20), ALL)

    as_json = run_cli("status", "--group", consumer_group, "--json", "--recent", "2")
    report = json.loads(as_json.out)
    assert [x["group_id"] for x in report["completions"]] == [
        group_id_at(base + timedelta(minutes=10)),
        group_id_at(base + timedelta(minutes=5)),
    ]
    assert report["conversion_times"]["median_s"] == 8.5  # of 11 and 6 seconds

    text = run_cli("status", "--group", consumer_group)
    assert text.code == 0, text.err
    assert f"Consumer group {consumer_group}: DEAD, 0 member(s)" in text.out
    assert "lag 20 event(s) over 3 partition(s)" in text.out
    assert "Open groups: 2 (1 with all 16 subbands, 1 incomplete)" in text.out
    open_line = next(
        line
        for line in text.out.splitlines()
        if line.strip().startswith(group_id_at(base + timedelta(minutes=15)))
    )
    assert "4/16" in open_line
    assert "0-2,5" in open_line
    assert "3-4,6-15" in open_line
    assert "Recent completions: 3" in text.out
    assert "median 6.0 s, max 11.0 s" in text.out

    short = run_cli("status", "--group", consumer_group, "--max-open", "1")
    assert group_id_at(base + timedelta(minutes=15)) in short.out  # the oldest is listed
    assert group_id_at(base + timedelta(minutes=20)) not in short.out
    assert "... and 1 newer open group(s)" in short.out


def test_status_names_a_missing_topic(cluster, run_cli, consumer_group, tmp_path):
    missing = f"{cluster.topics.subbands}.missing"
    config = tmp_path / "other.yaml"
    config.write_text(cluster.config_file.read_text().replace(cluster.topics.subbands, missing))
    cluster.config_file = config

    result = run_cli("status", "--group", consumer_group)

    assert result.code == 1
    assert f"topic '{missing}' does not exist" in result.err


def test_status_through_the_dsa110_stream_command(cluster, consumer_group, recent_base):
    cluster.publish_subbands(0, recent_base, range(3))
    command = [
        sys.executable, "-m", "dsa110_stream.cli", "status", "--json", "--group", consumer_group,
        "--config", str(cluster.config_file), "--bootstrap-servers", cluster.bootstrap,
    ]  # fmt: skip

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, cwd=repo
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["total_lag"] == 3
    assert [g["subbands_present"] for g in report["open_groups"]] == [[0, 1, 2]]
