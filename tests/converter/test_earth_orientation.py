"""The parsed IERS table is cached once and reused; a damaged cache is parsed again."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.time import Time
from astropy.utils import iers

from converter import earth_orientation
from converter.astrometry import offline_earth_orientation


@pytest.fixture
def fresh_process(tmp_path, monkeypatch):
    """As if in a new process: no table loaded, an empty cache directory."""
    monkeypatch.setenv(earth_orientation.CACHE_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(iers.IERS_Auto, "iers_table", None)
    with offline_earth_orientation():
        yield tmp_path


def test_the_parsed_table_is_cached_and_reused(fresh_process, monkeypatch):
    earth_orientation.load_earth_orientation()
    parsed = iers.IERS_Auto.iers_table
    cached = list(fresh_process.glob("iers-auto-*.pickle"))
    assert len(cached) == 1

    monkeypatch.setattr(iers.IERS_Auto, "iers_table", None)

    def no_parsing() -> None:
        raise AssertionError("parsed again despite the cache")

    monkeypatch.setattr(iers.IERS_Auto, "read", no_parsing)
    earth_orientation.load_earth_orientation()
    loaded = iers.IERS_Auto.iers_table
    assert loaded is not parsed
    when = Time(["2025-10-02T10:00:00", "2021-03-01T00:00:00"], scale="utc")
    np.testing.assert_array_equal(parsed.ut1_utc(when).value, loaded.ut1_utc(when).value)


def test_a_damaged_cache_is_parsed_again(fresh_process):
    earth_orientation.load_earth_orientation()
    (cached,) = fresh_process.glob("iers-auto-*.pickle")
    cached.write_bytes(b"not a pickle")
    iers.IERS_Auto.iers_table = None
    earth_orientation.load_earth_orientation()
    assert isinstance(iers.IERS_Auto.iers_table, iers.IERS_Auto)
    assert cached.read_bytes() != b"not a pickle"  # written again
