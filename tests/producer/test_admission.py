"""Which names and locations the producer accepts, and the reason when it does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from converter.grouping import SubbandName
from producer.admission import (
    Rejection,
    RejectReason,
    admit,
    is_candidate_name,
    relative_path,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "incoming").mkdir(parents=True)
    return tmp_path / "root"


def _admit(path: Path, root: Path) -> SubbandName | Rejection:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_symlink() and not path.exists():
        path.write_bytes(b"")
    return admit(path, root.resolve(), NOW, HOUR)


@pytest.mark.parametrize(
    ("name", "candidate"),
    [
        ("2026-01-01T10:00:00_sb00.hdf5", True),
        ("junk.hdf5", True),
        (".2026-01-01T10:00:00_sb00.hdf5", False),  # a writer's hidden temporary name
        ("2026-01-01T10:00:00_sb00.hdf5.tmp", False),
        ("notes.txt", False),
    ],
)
def test_candidate_names(name: str, candidate: bool) -> None:
    assert is_candidate_name(name) is candidate


def test_good_names_in_all_accepted_forms(root: Path) -> None:
    for name in ("2026-01-01T10:00:00_sb03.hdf5", "2026-01-01 10:00:00_sb03.hdf5",
                 "20260101_100000_sb03.hdf5"):
        admitted = _admit(root / "incoming" / name, root)
        assert not isinstance(admitted, Rejection), admitted
        assert admitted.subband == 3
        assert admitted.timestamp == datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("2026-01-01T10:00:00_sb16.hdf5", RejectReason.OUT_OF_RANGE),
        ("2026-01-01T10:00:00_sb123.hdf5", RejectReason.OUT_OF_RANGE),
        ("2026-01-01T10-00-00_sb03.hdf5", RejectReason.BAD_FILENAME),
        ("2026-01-01T10:00:00.hdf5", RejectReason.BAD_FILENAME),
        ("2026-02-30T10:00:00_sb03.hdf5", RejectReason.BAD_FILENAME),
        ("2026-01-01T14:00:00_sb03.hdf5", RejectReason.OUT_OF_RANGE),  # 2 h in the future
    ],
)
def test_rejected_names(root: Path, name: str, reason: RejectReason) -> None:
    rejection = _admit(root / "incoming" / name, root)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is reason
    assert name in rejection.message


def test_symlink_escaping_the_data_root(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "2026-01-01T10:00:00_sb03.hdf5"
    outside.parent.mkdir()
    outside.write_bytes(b"")
    link = root / "incoming" / outside.name
    link.symlink_to(outside)
    rejection = _admit(link, root)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is RejectReason.OUTSIDE_DATA_ROOT
    assert str(outside) in rejection.message


def test_symlink_inside_the_data_root_is_fine(root: Path) -> None:
    target = root / "archive" / "2026-01-01T10:00:00_sb03.hdf5"
    target.parent.mkdir()
    target.write_bytes(b"")
    link = root / "incoming" / target.name
    link.symlink_to(target)
    assert not isinstance(_admit(link, root), Rejection)
    assert relative_path(link, root) == "incoming/2026-01-01T10:00:00_sb03.hdf5"


def test_dangling_symlink(root: Path) -> None:
    link = root / "incoming" / "2026-01-01T10:00:00_sb03.hdf5"
    link.symlink_to(root / "nowhere.hdf5")
    rejection = _admit(link, root)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is RejectReason.MISSING_FILE
