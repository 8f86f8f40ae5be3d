"""Grouping of adversarial timestamp sets: batch (find_subband_groups) and streaming
(GroupClusterer, files in any arrival order) put exactly the files of each dump together.

Dumps start every 309.237648 s, so over a day their starts cross every 5-minute grid
edge (and every :02:30/:07:30 rounding edge); each file's name carries 0–10 s of jitter.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from converter.grouping import (
    GroupClusterer,
    InvalidSubbandName,
    find_subband_groups,
    format_group_id,
    parse_group_id,
    parse_subband_filename,
)

CADENCE = timedelta(seconds=309.237648)
START = datetime(2025, 10, 2, 0, 0, 3, tzinfo=UTC)


def name(stamp: datetime, subband: int, style: str = "T") -> Path:
    if style == "T":
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    elif style == "space":
        text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    else:
        text = stamp.strftime("%Y%m%d_%H%M%S")
    return Path(f"/data/incoming/{text}_sb{subband:02d}.hdf5")


def make_dumps(
    n_dumps: int, rng: random.Random, jitter: float = 10.0, start: datetime = START
) -> list[list[Path]]:
    """Files of each dump: start + whole seconds of uniform jitter in [0, jitter]."""
    dumps = []
    for k in range(n_dumps):
        dump_start = start + k * CADENCE
        stamps = [dump_start + timedelta(seconds=rng.uniform(0, jitter)) for _ in range(16)]
        dumps.append([name(s.replace(microsecond=0), sb) for sb, s in enumerate(stamps)])
    return dumps


def partition(groups) -> set[frozenset[Path]]:
    return {frozenset(g.files.values()) | frozenset(g.duplicates) for g in groups}


def stream(paths: list[Path], clusterer: GroupClusterer | None = None) -> set[frozenset[Path]]:
    """Assign files one by one, as the producer does, and return the membership."""
    clusterer = clusterer or GroupClusterer()
    members: dict[str, set[Path]] = {}
    for path in paths:
        group_id = clusterer.assign(parse_subband_filename(path).timestamp)
        members.setdefault(group_id, set()).add(path)
    return {frozenset(m) for m in members.values()}


def test_a_day_of_jittered_dumps_groups_exactly(tmp_path):
    rng = random.Random(1)
    dumps = make_dumps(280, rng)  # 24 h: starts drift across every 5-minute grid edge
    expected = {frozenset(d) for d in dumps}
    files = [p for d in dumps for p in d]
    rng.shuffle(files)
    groups, rejected = find_subband_groups(files)
    assert not rejected
    assert partition(groups) == expected
    assert all(g.complete and not g.duplicates for g in groups)
    for group, dump in zip(groups, dumps, strict=True):
        earliest = min(parse_subband_filename(p).timestamp for p in dump)
        assert group.group_id == format_group_id(earliest)
    for seed in range(5):
        random.Random(seed).shuffle(files)
        assert stream(files) == expected


def test_grid_edges_that_broke_the_prototype():
    """13:24:59 vs 13:25:00 (flooring), 10:02:29 vs 10:02:30 (rounding), exact strings."""
    cases = [
        ("2025-10-02T13:24:50", [9, 10]),  # files at :24:59 and :25:00
        ("2025-10-02T10:02:20", [9, 10]),  # files at :02:29 and :02:30
        ("2025-10-02T06:45:00", list(range(10))),  # :45:00 .. :45:09
        ("2025-10-02T03:18:04", [0, 1, 2]),  # :18:04, :05, :06
    ]
    for start, offsets in cases:
        first = datetime.fromisoformat(start).replace(tzinfo=UTC)
        files = [
            name(first + timedelta(seconds=offsets[sb % len(offsets)]), sb) for sb in range(16)
        ]
        neighbours = [name(first - CADENCE + timedelta(seconds=5), sb) for sb in range(16)] + [
            name(first + CADENCE + timedelta(seconds=2), sb) for sb in range(16)
        ]
        everything = files + neighbours
        random.Random(start).shuffle(everything)
        groups, _ = find_subband_groups(everything)
        assert len(groups) == 3, start
        assert frozenset(files) in partition(groups), start
        assert stream(everything) == partition(groups), start


def test_missing_subbands_and_duplicates():
    rng = random.Random(7)
    dumps = make_dumps(6, rng)
    dumps[2] = [p for p in dumps[2] if not p.name.endswith(("_sb00.hdf5", "_sb07.hdf5"))]
    later = parse_subband_filename(dumps[4][5]).timestamp + timedelta(seconds=2)
    duplicate = name(later, 5)
    files = [p for d in dumps for p in d] + [duplicate]
    rng.shuffle(files)
    groups, _ = find_subband_groups(files)
    assert len(groups) == 6
    assert groups[2].missing == (0, 7) and not groups[2].complete
    assert groups[4].duplicates == (duplicate,)
    assert groups[4].files[5] == dumps[4][5]
    assert all(g.complete for i, g in enumerate(groups) if i != 2)
    assert stream(files) == partition(groups)


def test_old_name_styles_join_the_same_dump():
    first = datetime(2025, 10, 2, 10, 2, 45, tzinfo=UTC)
    files = [name(first + timedelta(seconds=sb % 4), sb, style) for sb, style in
             zip(range(16), ["T", "space", "compact", "T"] * 4, strict=True)]  # fmt: skip
    groups, rejected = find_subband_groups(files)
    assert not rejected and len(groups) == 1 and groups[0].complete
    assert groups[0].group_id == "2025-10-02T10:02:45"


def test_bad_names_are_rejected_with_a_reason():
    good = name(START, 0)
    bad = [
        Path("/d/2025-10-02T10:02:45_sb16.hdf5"),
        Path("/d/2025-10-02T10-02-45_sb01.hdf5"),
        Path("/d/2025-10-02T10:02:45.hdf5"),
        Path("/d/2025-13-02T10:02:45_sb01.hdf5"),
    ]
    groups, rejected = find_subband_groups([good, *bad])
    assert [g.files for g in groups] == [{0: good}]
    assert [p for p, _ in rejected] == bad
    for path in bad:
        with pytest.raises(InvalidSubbandName):
            parse_subband_filename(path)


def test_time_range_selects_whole_groups_inclusive():
    dumps = make_dumps(5, random.Random(3))
    files = [p for d in dumps for p in d]
    groups, _ = find_subband_groups(files)
    ids = [g.group_id for g in groups]
    selected, _ = find_subband_groups(
        files, start=parse_group_id(ids[1]), end=parse_group_id(ids[3])
    )
    assert [g.group_id for g in selected] == ids[1:4]
    assert all(g.complete for g in selected)


def test_streaming_after_a_restart_keeps_the_groups():
    """Anchors seeded from history (as the producer does at start-up) keep late files of
    an open dump in the group they started, whatever their own timestamps."""
    rng = random.Random(11)
    dumps = make_dumps(3, rng)
    seen_first = [dumps[1][i] for i in (3, 8)]
    clusterer = GroupClusterer()
    ids_before = {clusterer.assign(parse_subband_filename(p).timestamp) for p in seen_first}
    restarted = GroupClusterer()
    for group_id in ids_before:
        restarted.add_anchor(parse_group_id(group_id))
    rest = [p for d in dumps for p in d if p not in seen_first]
    rng.shuffle(rest)
    membership = stream(rest, restarted)
    assert len(membership) == 3
    group_of_dump1 = next(m for m in membership if dumps[1][0] in m)
    assert group_of_dump1 == frozenset(dumps[1]) - frozenset(seen_first)
    assert {format_group_id(a) for a in restarted.anchors} >= ids_before


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_group_id(datetime(2025, 10, 2, 10, 2, 45))
