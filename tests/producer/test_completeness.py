"""The completeness verdict, driven with explicit clocks (no sleeping)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from producer.completeness import (
    Completeness,
    CompletenessRules,
    FileStat,
    Observation,
    judge,
)
from simulator import SimulationResult

RULES = CompletenessRules(stable_seconds=30.0, corrupt_after_seconds=900.0)


@pytest.fixture
def good_file(small_dump: SimulationResult, tmp_path: Path) -> Path:
    path = tmp_path / small_dump.dumps[0].files[0].name
    shutil.copyfile(small_dump.dumps[0].files[0], path)
    return path


def _mtime(path: Path) -> float:
    return path.stat().st_mtime_ns / 1e9


def test_fresh_file_waits_until_stable_by_our_own_clock(good_file: Path) -> None:
    first = Observation(FileStat.of(good_file), seen_at=100.0)
    fresh = _mtime(good_file) + 1.0  # wall clock: written a second ago
    verdict = judge(good_file, first, RULES, now_monotonic=110.0, now_wall=fresh)
    assert verdict.completeness is Completeness.NOT_YET
    assert verdict.reason == "not yet stable"
    verdict = judge(good_file, first, RULES, now_monotonic=130.0, now_wall=fresh)
    assert verdict.completeness is Completeness.COMPLETE
    assert verdict.header is not None and verdict.header.n_times == 4


def test_old_mtime_counts_as_stable_at_once(good_file: Path) -> None:
    first = Observation(FileStat.of(good_file), seen_at=100.0)
    verdict = judge(good_file, first, RULES, now_monotonic=100.0, now_wall=_mtime(good_file) + 31)
    assert verdict.completeness is Completeness.COMPLETE


def test_close_after_write_needs_no_wait(good_file: Path) -> None:
    closed = Observation(FileStat.of(good_file), seen_at=100.0, closed=True)
    verdict = judge(good_file, closed, RULES, now_monotonic=100.0, now_wall=_mtime(good_file))
    assert verdict.completeness is Completeness.COMPLETE


def test_a_change_restarts_the_stability_clock(good_file: Path) -> None:
    before = Observation(FileStat.of(good_file), seen_at=100.0, closed=True)
    with good_file.open("ab") as handle:
        handle.write(b"\0")
    os.utime(good_file, ns=(before.stat.mtime_ns + 10**9, before.stat.mtime_ns + 10**9))
    verdict = judge(good_file, before, RULES, now_monotonic=200.0, now_wall=_mtime(good_file))
    assert verdict.completeness is Completeness.NOT_YET
    assert verdict.observation is not None
    assert verdict.observation.seen_at == 200.0 and not verdict.observation.closed
    assert verdict.observation.stat == FileStat.of(good_file)


def test_inconsistent_file_is_corrupt_only_after_the_grace_period(tmp_path: Path) -> None:
    path = tmp_path / "2026-01-01T00:00:00_sb00.hdf5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    seen = Observation(FileStat.of(path), seen_at=0.0, closed=True)
    young = judge(path, seen, RULES, now_monotonic=1.0, now_wall=_mtime(path) + 60)
    assert young.completeness is Completeness.NOT_YET
    assert "cannot open as HDF5" in young.reason
    old = judge(path, seen, RULES, now_monotonic=1.0, now_wall=_mtime(path) + 901)
    assert old.completeness is Completeness.CORRUPT
    assert "cannot open as HDF5" in old.reason


def test_vanished_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.hdf5"
    path.write_bytes(b"x")
    seen = Observation(FileStat.of(path), seen_at=0.0)
    path.unlink()
    verdict = judge(path, seen, RULES, now_monotonic=100.0, now_wall=1e10)
    assert verdict.completeness is Completeness.VANISHED
