"""Acceptance: each bad input becomes one dead letter with its reason; the producer keeps
publishing good files, and a restart does not report the same files again."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.producer.helpers import (
    ProducerThread,
    dead_letters,
    producer_settings,
    simulate_into,
    small_config,
    subband_events,
    wait_until,
)

pytestmark = pytest.mark.broker


def test_bad_inputs_are_dead_lettered_and_good_files_still_flow(
    tmp_path: Path, kafka_bootstrap: str, topic_settings
) -> None:
    simulation = simulate_into(
        tmp_path / "sim",
        small_config(
            corrupt=((0, 3),),  # truncated HDF5 under a valid name
            misnamed=((0, 5), (0, 6), (0, 7)),  # _sb16, "-" for ":", no _sbNN
            duplicates=((0, 8),),  # a second sb08 file 1-3 s later
        ),
    )
    start = simulation.dumps[0].start_time
    root = tmp_path / "data"
    incoming = root / "incoming"
    incoming.mkdir(parents=True)
    producer = ProducerThread(producer_settings(incoming, kafka_bootstrap, topic_settings,
                                                data_root=root))
    wait_until(lambda: producer.service.health().ready, 60, "the producer to be ready")

    entries = simulation.dumps[0].entries
    # The bad inputs arrive first ...
    for entry in entries:
        if "misnamed" in entry.cases or "corrupt" in entry.cases:
            shutil.copy2(entry.path, incoming / entry.path.name)
    garbage = incoming / f"{start - timedelta(hours=1):%Y-%m-%dT%H:%M:%S}_sb00.hdf5"
    garbage.write_bytes(np.random.default_rng(1).bytes(8192))
    future = incoming / f"{datetime.now(UTC) + timedelta(hours=3):%Y-%m-%dT%H:%M:%S}_sb01.hdf5"
    shutil.copy2(simulation.dumps[0].files[0], future)
    outside = tmp_path / "outside" / f"{start - timedelta(hours=2):%Y-%m-%dT%H:%M:%S}_sb02.hdf5"
    outside.parent.mkdir()
    shutil.copy2(simulation.dumps[0].files[0], outside)
    (incoming / outside.name).symlink_to(outside)
    dangling = incoming / f"{start - timedelta(hours=3):%Y-%m-%dT%H:%M:%S}_sb04.hdf5"
    dangling.symlink_to(tmp_path / "nowhere.hdf5")
    expected = Counter({"CORRUPT_FILE": 2, "BAD_FILENAME": 2, "OUT_OF_RANGE": 2,
                        "OUTSIDE_DATA_ROOT": 1, "MISSING_FILE": 1})

    def reasons() -> Counter[str]:
        return Counter(e.record["reason"] for e in dead_letters(kafka_bootstrap, topic_settings))

    wait_until(lambda: reasons() == expected, 90, f"dead letters {dict(expected)}")

    # ... then the good files of the dump, and the duplicate after its original.
    good = [p for sb, p in sorted(simulation.dumps[0].files.items()) if sb != 3]
    for source in good:
        shutil.copy2(source, incoming / source.name)
    wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) == len(good), 60,
               "the good files to be published")
    duplicate = next(e.path for e in entries if "duplicate" in e.cases)
    shutil.copy2(duplicate, incoming / duplicate.name)
    expected["DUPLICATE_FILE"] = 1
    wait_until(lambda: reasons() == expected, 60, "the duplicate's dead letter")
    assert producer.alive
    assert producer.stop() == 0

    letters = {Path(e.record["path"]).name: e.record
               for e in dead_letters(kafka_bootstrap, topic_settings)}
    assert letters[duplicate.name]["reason"] == "DUPLICATE_FILE"
    group_ids = {e.record["group_id"] for e in subband_events(kafka_bootstrap, topic_settings)}
    assert len(group_ids) == 1
    assert letters[duplicate.name]["group_id"] in group_ids
    assert letters[garbage.name]["reason"] == "CORRUPT_FILE"
    assert letters[simulation.dumps[0].files[3].name]["reason"] == "CORRUPT_FILE"
    assert letters[outside.name]["reason"] == "OUTSIDE_DATA_ROOT"
    assert letters[future.name]["reason"] == "OUT_OF_RANGE"
    assert letters[dangling.name]["reason"] == "MISSING_FILE"
    for record in letters.values():
        assert record["source_topic"] is None and record["attempts"] == 1
        assert record["message"]
        assert record["path"].startswith(str(incoming))

    restarted = ProducerThread(producer_settings(incoming, kafka_bootstrap, topic_settings,
                                                 data_root=root))
    wait_until(lambda: restarted.service.health().ready, 60, "the restarted producer")
    wait_until(lambda: restarted.service.health().detail["bootstrap"] == "0 of 0", 30,
               "the restarted producer to find nothing new")
    assert restarted.stop() == 0
    assert reasons() == expected, "a restart reported the same files again"
    assert len(subband_events(kafka_bootstrap, topic_settings)) == len(good)
