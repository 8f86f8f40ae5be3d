"""Reading and finding the station table; choosing data antennas."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.stations import (
    STATION_TABLE_ENV,
    StationTableError,
    default_station_table,
    read_station_table,
)
from simulator.telescope import spread_stations


def test_reads_all_117_stations(station_table):
    stations = read_station_table(station_table)
    assert [s.number for s in stations] == list(range(1, 118))
    first = stations[0]
    assert (first.name, first.lat_deg, first.lon_deg, first.elevation_m) == (
        "DSA-001",
        37.2333752,
        -118.2856408,
        1182.6,
    )
    assert (first.antenna_number, first.antenna_name) == (0, "1")
    assert stations[116].elevation_m is None  # blank in the table


def test_rejects_a_file_without_the_header_row(tmp_path):
    bad = tmp_path / "stations.csv"
    bad.write_text(",DSA-001,37.2,-118.2,1180\n")
    with pytest.raises(StationTableError, match="header row"):
        read_station_table(bad)


def test_rejects_a_malformed_row(tmp_path):
    bad = tmp_path / "stations.csv"
    bad.write_text(",Station Number,Latitude,Longitude,Elevation (meters)\n,DSA-001,north,1,2\n")
    with pytest.raises(StationTableError, match="bad station row"):
        read_station_table(bad)


def test_default_table_comes_from_the_environment(monkeypatch, station_table):
    monkeypatch.setenv(STATION_TABLE_ENV, str(station_table))
    assert default_station_table(repo_root=Path("/nonexistent")) == station_table
    monkeypatch.setenv(STATION_TABLE_ENV, "/nonexistent/table.csv")
    with pytest.raises(StationTableError, match=STATION_TABLE_ENV):
        default_station_table()


def test_default_table_beside_the_repository_or_a_clear_error(monkeypatch, tmp_path, station_table):
    monkeypatch.delenv(STATION_TABLE_ENV, raising=False)
    repo = station_table.parents[2] / "main"
    assert default_station_table(repo_root=repo) == station_table
    with pytest.raises(StationTableError, match="--stations"):
        default_station_table(repo_root=tmp_path / "repo")


def test_spread_stations_covers_both_arms(station_table):
    stations = read_station_table(station_table)
    chosen = spread_stations(stations, 6)
    assert len(chosen) == len(set(chosen)) == 6
    assert chosen[0] == 1 and chosen[-1] == 117
    assert spread_stations(stations, 117) == list(range(1, 118))
    with pytest.raises(ValueError):
        spread_stations(stations, 0)
