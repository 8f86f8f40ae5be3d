"""Grouping state: one id per dump whatever the order, duplicates found, claims released."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from converter.grouping import SubbandName, find_subband_groups
from producer.state import ProducerState, PublishedFile

TOLERANCE = timedelta(seconds=150)
DUMP = timedelta(seconds=309.237648)


def _names(n_dumps: int, start: datetime, seed: int) -> list[SubbandName]:
    rng = random.Random(seed)
    names = []
    for dump in range(n_dumps):
        base = start + dump * DUMP
        for subband in range(16):
            stamp = (base + timedelta(seconds=rng.uniform(0, 10))).replace(microsecond=0)
            path = Path(f"{stamp:%Y-%m-%dT%H:%M:%S}_sb{subband:02d}.hdf5")
            names.append(SubbandName(stamp, subband, path))
    return names


def test_any_arrival_order_gives_the_batch_grouping() -> None:
    # 13:24:55 + 0..10 s straddles the 13:25 grid edge; later dumps drift across others.
    names = _names(12, datetime(2026, 1, 1, 13, 24, 55, tzinfo=UTC), seed=1)
    batch, _ = find_subband_groups(n.path for n in names)
    batch_groups = sorted(sorted(p.name for p in g.files.values()) for g in batch)
    for seed in range(5):
        shuffled = names[:]
        random.Random(seed).shuffle(shuffled)
        state = ProducerState(tolerance=TOLERANCE)
        members: dict[str, list[str]] = {}
        for name in shuffled:
            group_id, owner = state.assign(name.path.name, name)
            assert owner is None
            state.record_published(
                PublishedFile(name.path.name, group_id, name.subband, name.timestamp)
            )
            members.setdefault(group_id, []).append(name.path.name)
        assert sorted(sorted(m) for m in members.values()) == batch_groups
        assert all(len(m) == 16 for m in members.values())


def test_second_file_for_a_subband_is_a_duplicate_and_release_frees_the_slot() -> None:
    state = ProducerState(tolerance=TOLERANCE)
    stamp = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    first = SubbandName(stamp, 3, Path("a_sb03.hdf5"))
    group_id, owner = state.assign("a", first)
    state.record_published(PublishedFile("a", group_id, 3, stamp))
    again, owner = state.assign("a", first)
    assert (again, owner) == (group_id, None), "the same file is not its own duplicate"
    later = SubbandName(stamp + timedelta(seconds=2), 3, Path("b_sb03.hdf5"))
    assert state.assign("b", later) == (group_id, "a")
    state.release("a")
    assert state.assign("b", later) == (group_id, None)


def test_history_anchors_keep_ids_stable_across_restarts() -> None:
    stamp = datetime(2026, 1, 1, 10, 0, 7, tzinfo=UTC)
    before = ProducerState(tolerance=TOLERANCE)
    before.record_published(PublishedFile("x_sb05", "2026-01-01T10:00:07", 5, stamp))
    # A file earlier than the anchor (jitter) joins the anchor's group, not a new one.
    early = SubbandName(stamp - timedelta(seconds=7), 0, Path("y_sb00.hdf5"))
    assert before.assign("y_sb00", early) == ("2026-01-01T10:00:07", None)


def test_forget_before_keeps_files_still_present() -> None:
    state = ProducerState(tolerance=TOLERANCE)
    old = datetime(2026, 1, 1, tzinfo=UTC)
    state.record_published(PublishedFile("gone", "2026-01-01T00:00:00", 0, old))
    state.record_published(PublishedFile("kept", "2026-01-01T00:00:00", 1, old))
    state.record_rejected("bad-gone", "CORRUPT_FILE")
    state.record_rejected("bad-kept", "BAD_FILENAME")
    state.forget_before(old + timedelta(days=1), present={"kept", "bad-kept"})
    assert not state.is_published("gone") and state.is_published("kept")
    assert not state.is_rejected("bad-gone") and state.is_rejected("bad-kept")
