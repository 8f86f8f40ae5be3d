"""Acceptance: every dump's 16 files get one group id, whatever the jitter, the arrival
order and a producer restart in between; no file is published twice."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from converter.grouping import N_SUBBANDS, parse_subband_filename
from tests.producer.helpers import (
    DUMP_SECONDS,
    ProducerThread,
    dead_letters,
    link_backlog,
    producer_settings,
    recent_start,
    simulate_into,
    small_config,
    subband_events,
    wait_until,
)

pytestmark = pytest.mark.broker


def _drop_in(files: list[Path], directory: Path) -> None:
    """Write like a careful copier: a hidden temporary name, then a rename into place."""
    for source in files:
        temporary = directory / f".{source.name}.partial"
        shutil.copyfile(source, temporary)
        temporary.rename(directory / source.name)


def test_shuffled_jittered_dumps_across_a_restart(
    tmp_path: Path, kafka_bootstrap: str, topic_settings
) -> None:
    simulation = simulate_into(
        tmp_path / "sim",
        small_config(n_dumps=4, straddle_grid_edge=True, shuffle=True, jitter_s=(0.0, 10.0)),
    )
    stamps = {parse_subband_filename(f).timestamp for f in simulation.files}
    first_dump = [parse_subband_filename(f) for f in simulation.dumps[0].files.values()]
    grid_bins = {int(n.timestamp.timestamp()) // 300 for n in first_dump}
    assert len(grid_bins) == 2, "the first dump should straddle a 5-minute grid edge"
    assert len(stamps) > 4, "the file names should be jittered"

    files = list(simulation.files)
    random.Random(11).shuffle(files)  # harsher than the correlator: dumps interleaved too
    at_start, live, while_down = files[:20], files[20:40], files[40:]
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for source in at_start:
        shutil.copy2(source, incoming / source.name)
    settings = producer_settings(incoming, kafka_bootstrap, topic_settings)

    first = ProducerThread(settings)
    wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) == 20, 120,
               "the bootstrap of 20 files")
    _drop_in(live, incoming)
    wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) == 40, 120,
               "20 live files")
    assert first.stop() == 0
    _drop_in(while_down, incoming)
    second = ProducerThread(settings)
    wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) >= 64, 120,
               "the files written while the producer was down")
    assert second.stop() == 0

    events = subband_events(kafka_bootstrap, topic_settings)
    records = [e.record for e in events]
    assert sorted(r["relative_path"] for r in records) == sorted(f.name for f in files), (
        "every file published exactly once"
    )
    group_of = {r["relative_path"]: r["group_id"] for r in records}
    ids_per_dump = [
        {group_of[path.name] for path in dump.files.values()} for dump in simulation.dumps
    ]
    assert all(len(ids) == 1 for ids in ids_per_dump), ids_per_dump
    assert len({next(iter(ids)) for ids in ids_per_dump}) == len(simulation.dumps)

    subbands: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for event in events:
        record = event.record
        subbands[record["group_id"]].append(record["subband"])
        partitions[record["group_id"]].add(event.partition)
        assert event.key == record["group_id"]
        name = parse_subband_filename(record["relative_path"])
        assert event.timestamp_ms == int(name.timestamp.timestamp() * 1000)
        assert record["path"] == str(incoming / record["relative_path"])
        assert record["size_bytes"] == (incoming / record["relative_path"]).stat().st_size
        assert record["header"]["n_times"] == 4 and record["header"]["n_antennas_data"] == 4
    assert all(sorted(sbs) == list(range(N_SUBBANDS)) for sbs in subbands.values())
    assert all(len(p) == 1 for p in partitions.values()), "a group spans partitions"
    assert dead_letters(kafka_bootstrap, topic_settings) == []


@pytest.mark.slow
def test_kill_9_during_a_bootstrap_loses_and_repeats_nothing(
    tmp_path: Path, kafka_bootstrap: str, topic_settings
) -> None:
    n_dumps = 100
    first_start = recent_start(hours_ago=1 + n_dumps * DUMP_SECONDS / 3600)
    template = simulate_into(tmp_path / "template", small_config(start=first_start))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = link_backlog(template.dumps[0].files, incoming, first_start, n_dumps)
    env = {
        **os.environ,
        "DSA110_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DSA110_TOPICS__SUBBANDS": topic_settings.subbands,
        "DSA110_TOPICS__MS_READY": topic_settings.ms_ready,
        "DSA110_TOPICS__DEAD_LETTER": topic_settings.dead_letter,
        "DSA110_LAYOUT__PARTITIONS": "3",
        "DSA110_LAYOUT__REPLICATION_FACTOR": "1",
        "DSA110_STABLE_SECONDS": "1",
    }
    command = [sys.executable, "-m", "dsa110_stream.cli", "produce", "--input-dir",
               str(incoming), "--once"]
    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) >= 100, 120,
                   "the first producer to publish some files")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
    survivor = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert survivor.returncode == 0, survivor.stderr[-3000:]

    events = subband_events(kafka_bootstrap, topic_settings)
    names = [e.record["relative_path"] for e in events]
    assert len(names) == len(set(names)), "a file was published twice"
    assert sorted(names) == sorted(path.name for path in files), "a file was lost"
    groups: dict[str, int] = defaultdict(int)
    for event in events:
        groups[event.record["group_id"]] += 1
    assert len(groups) == n_dumps and set(groups.values()) == {N_SUBBANDS}
