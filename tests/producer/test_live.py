"""Acceptance: a file being written is published once, after it is complete; a file renamed
into the directory is published once, under its new name."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from simulator import write_live
from tests.producer.helpers import (
    ProducerThread,
    dead_letters,
    producer_settings,
    small_config,
    subband_events,
    wait_until,
)

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("watch_mode", ["inotify", "poll"])
def test_incrementally_written_file_is_published_once_after_close(
    tmp_path: Path, kafka_bootstrap: str, topic_settings, watch_mode: str
) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    producer = ProducerThread(
        producer_settings(incoming, kafka_bootstrap, topic_settings, watch_mode=watch_mode)
    )
    wait_until(lambda: producer.service.health().ready, 60, "the producer to be ready")
    closed_at: dict[str, float] = {}
    config = small_config(subbands=(4, 9), n_times=8)
    writer = threading.Thread(
        target=write_live,
        args=(incoming, config),
        kwargs={
            # 8 integrations 0.7 s apart: ~5 s of writing, with pauses shorter than the
            # producer's 2 s stability interval, as the correlator's 12.9 s are to 30 s.
            "integration_delay_s": 0.7,
            "file_delay_s": 1.0,
            "on_file_complete": lambda f: closed_at.setdefault(f.path.name, time.time()),
            "truth_path": tmp_path / "truth.json",
        },
    )
    writer.start()
    wait_until(lambda: any(incoming.glob("*.hdf5")), 60, "the writer to create its files")
    writer.join(120)
    wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) >= 2, 60,
               "both files to be published")
    time.sleep(3)  # longer than the stability interval: a second event would show by now
    assert producer.stop() == 0

    events = subband_events(kafka_bootstrap, topic_settings)
    assert sorted(e.record["relative_path"] for e in events) == sorted(closed_at)
    for event in events:
        record = event.record
        path = incoming / record["relative_path"]
        assert record["size_bytes"] == path.stat().st_size
        assert record["header"]["n_times"] == 8
        detected = record["detected_at"]
        assert isinstance(detected, datetime)
        assert detected.timestamp() >= closed_at[path.name] - 0.001, (
            "published before the writer closed the file"
        )
    assert dead_letters(kafka_bootstrap, topic_settings) == []


def test_renamed_files_are_published_under_their_new_names(
    tmp_path: Path, kafka_bootstrap: str, topic_settings
) -> None:
    root = tmp_path / "data"
    incoming, staging = root / "incoming", root / "staging"
    incoming.mkdir(parents=True)
    producer = ProducerThread(
        producer_settings(incoming, kafka_bootstrap, topic_settings, data_root=root,
                          stable_seconds=3600.0)  # only the rename can say "complete"
    )
    wait_until(lambda: producer.service.health().ready, 60, "the producer to be ready")
    # The simulator writes "<name>.tmp" in the directory and renames it into place ...
    result = write_live(incoming, small_config(subbands=(1,), write_mode="rename"),
                        truth_path=tmp_path / "truth.json")
    renamed_in_place = result.files[0].name
    # ... and an operator moves a finished file in from another directory of the volume.
    write_live(staging, small_config(subbands=(2,)), truth_path=tmp_path / "truth2.json")
    moved = next(staging.glob("*.hdf5"))
    moved_to = incoming / moved.name
    moved.rename(moved_to)
    wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) >= 2, 60,
               "both renamed files to be published")
    time.sleep(2)
    assert producer.stop() == 0

    relative = sorted(e.record["relative_path"] for e in subband_events(kafka_bootstrap,
                                                                        topic_settings))
    assert relative == sorted([f"incoming/{renamed_in_place}", f"incoming/{moved_to.name}"])
    assert dead_letters(kafka_bootstrap, topic_settings) == []
