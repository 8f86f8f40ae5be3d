"""Cadence, filename jitter, the hard cases, and the truth file."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import h5py
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from pyuvdata import UVData

from converter.grouping import InvalidSubbandName, find_subband_groups, parse_subband_filename
from simulator import PointSource, SimulationConfig, load_truth, simulate
from tests.simulator.pyuvdata_reader import read_uvdata

CADENCE = timedelta(seconds=309.237648)


@pytest.fixture(scope="module")
def tiny(station_table) -> SimulationConfig:
    """Cheap files: three antennas; the hard cases only look at names and order."""
    return SimulationConfig(n_antennas=3, station_table=station_table, seed=3)


def stamps_of(dump):
    return [e.filename_timestamp for e in dump.entries]


def test_dumps_follow_the_309_s_cadence(small_run):
    starts = [d.start_time for d in small_run.dumps]
    assert starts[0] == datetime(2025, 10, 2, 10, 2, 45, tzinfo=UTC)
    assert starts[1] - starts[0] == CADENCE
    for dump in small_run.dumps:
        for entry in dump.entries:
            offset = (entry.filename_timestamp - dump.start_time).total_seconds()
            assert -1 < offset <= 10
            assert parse_subband_filename(entry.path).timestamp == entry.filename_timestamp
    assert len({s for d in small_run.dumps for s in stamps_of(d)}) > 2  # jitter is real


def test_jitter_option_bounds_the_name_timestamps(tmp_path, tiny):
    start = datetime(2025, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)
    run = simulate(
        tmp_path / "a", dataclasses.replace(tiny, start=start, n_dumps=3, jitter_s=(3.0, 6.0))
    )
    for dump in run.dumps:
        for stamp in stamps_of(dump):
            assert dump.start_time + timedelta(seconds=2) <= stamp
            assert stamp <= dump.start_time + timedelta(seconds=6)
    assert run.dumps[2].start_time - start == 2 * CADENCE
    fixed = simulate(tmp_path / "b", dataclasses.replace(tiny, start=start, jitter_s=(0, 0)))
    assert set(stamps_of(fixed.dumps[0])) == {start.replace(microsecond=0)}


def test_every_complete_dump_groups_as_one(small_run):
    groups, rejected = find_subband_groups(small_run.files)
    assert not rejected
    assert [sorted(g.files.values()) for g in groups] == [
        sorted(d.files.values()) for d in small_run.dumps
    ]
    assert all(g.complete for g in groups)


@pytest.mark.parametrize(("offset", "edge_seconds"), [(0.0, 0), (150.0, 150)])
def test_straddle_puts_one_dump_on_both_sides_of_a_grid_edge(tmp_path, tiny, offset, edge_seconds):
    config = dataclasses.replace(tiny, straddle_grid_edge=True, grid_offset_s=offset)
    run = simulate(tmp_path, config)
    stamps = stamps_of(run.dumps[0])
    cells = {int(s.timestamp() - offset) // 300 for s in stamps}
    assert len(cells) == 2, stamps
    edge = max(cells) * 300 + offset
    assert int(edge) % 300 == edge_seconds
    groups, _ = find_subband_groups(run.files)
    assert len(groups) == 1 and groups[0].complete


def test_missing_files_are_not_written(tmp_path, tiny):
    run = simulate(tmp_path, dataclasses.replace(tiny, n_dumps=2, missing=((1, 4), (1, 9))))
    assert run.dumps[0].missing == ()
    assert run.dumps[1].missing == (4, 9)
    assert len(run.files) == 30
    assert sorted(p.name for p in tmp_path.glob("*.hdf5")) == sorted(p.name for p in run.files)


def test_only_the_chosen_subbands_are_written(tmp_path, tiny):
    run = simulate(tmp_path, dataclasses.replace(tiny, subbands=(0, 3)))
    assert sorted(run.dumps[0].files) == [0, 3]
    assert len(run.dumps[0].missing) == 14


def test_duplicate_is_a_second_identical_file_in_the_same_dump(tmp_path, tiny):
    run = simulate(tmp_path, dataclasses.replace(tiny, duplicates=((0, 6),)))
    dupes = [e for e in run.dumps[0].entries if "duplicate" in e.cases]
    assert len(dupes) == 1
    dupe, original = dupes[0].path, run.dumps[0].files[6]
    assert dupe != original
    assert parse_subband_filename(dupe).subband == 6
    gap = parse_subband_filename(dupe).timestamp - parse_subband_filename(original).timestamp
    assert timedelta(seconds=1) <= gap <= timedelta(seconds=3)
    with h5py.File(dupe, "r") as a, h5py.File(original, "r") as b:
        np.testing.assert_array_equal(a["Data/visdata"][:], b["Data/visdata"][:])
    groups, _ = find_subband_groups(run.files)
    assert len(groups) == 1 and len(groups[0].duplicates) == 1


def test_corrupt_files_cannot_be_read(tmp_path, tiny):
    for style in ("truncated", "garbage"):
        run = simulate(
            tmp_path / style, dataclasses.replace(tiny, corrupt=((0, 2),), corrupt_style=style)
        )
        path = run.dumps[0].files[2]
        assert parse_subband_filename(path).subband == 2  # the name is fine
        assert path.stat().st_size > 0
        with pytest.raises(OSError):
            h5py.File(path, "r")
        with pytest.raises(OSError):
            UVData.from_file(str(path), file_type="uvh5", run_check=False)
        read_uvdata(run.dumps[0].files[3])  # its neighbours are fine
        assert not list((tmp_path / style).glob("*.tmp"))


def test_misnamed_files_fail_the_name_parser(tmp_path, tiny):
    refs = ((0, 1), (0, 2), (0, 3))
    run = simulate(tmp_path, dataclasses.replace(tiny, misnamed=refs))
    misnamed = [e for e in run.dumps[0].entries if "misnamed" in e.cases]
    assert len(misnamed) == 3
    for entry in misnamed:
        assert entry.path.exists()
        with pytest.raises(InvalidSubbandName):
            parse_subband_filename(entry.path)
        read_uvdata(entry.path)  # the content is a valid file
    assert run.dumps[0].missing == (1, 2, 3)


def test_late_files_arrive_after_the_later_dumps(tmp_path, tiny):
    config = dataclasses.replace(tiny, n_dumps=4, late=((0, 5), (3, 0)), late_by_dumps=2)
    run = simulate(tmp_path, config)
    arrival = {p: i for i, p in enumerate(run.files)}
    late = run.dumps[0].files[5]
    assert arrival[late] > max(arrival[p] for p in run.dumps[2].files.values())
    assert arrival[late] < min(arrival[p] for p in run.dumps[3].files.values())
    assert arrival[run.dumps[3].files[0]] == len(run.files) - 1
    # mtimes follow the arrival order: the late file was really written later.
    assert late.stat().st_mtime_ns >= run.dumps[2].files[15].stat().st_mtime_ns
    groups, _ = find_subband_groups(run.files)
    assert len(groups) == 4 and all(g.complete for g in groups)


def test_shuffle_changes_the_arrival_order_within_each_dump(tmp_path, tiny):
    run = simulate(tmp_path, dataclasses.replace(tiny, n_dumps=2, shuffle=True))
    for dump in run.dumps:
        order = [e.subband for e in sorted(dump.entries, key=lambda e: e.arrival_index)]
        assert sorted(order) == list(range(16))
        assert order != sorted(order)
    # Dumps stay in sequence: every file of dump 0 arrives before any of dump 1.
    assert max(e.arrival_index for e in run.dumps[0].entries) < min(
        e.arrival_index for e in run.dumps[1].entries
    )


def test_the_truth_file_records_sources_and_files(tmp_path, station_table):
    sources = (
        PointSource(ra_deg=44.0, dec_deg=55.1, flux_jy=3.0),
        PointSource(ra_deg=43.5, dec_deg=54.8, flux_jy=0.5),
    )
    config = SimulationConfig(
        n_antennas=3,
        n_dumps=2,
        station_table=station_table,
        sources=sources,
        subbands=(0, 1),
        missing=((1, 1),),
    )
    run = simulate(tmp_path, config)
    truth = load_truth(tmp_path / "truth.json")
    assert truth.truth_path == run.truth_path == tmp_path / "truth.json"
    assert truth.sources == sources
    assert truth.pointing_dec_deg == 55.0
    assert truth.files == run.files
    assert truth.dumps == run.dumps
    assert truth.config["seed"] == 0 and truth.config["missing"] == [[1, 1]]
    for dump in truth.dumps:
        for subband, path in dump.files.items():
            with h5py.File(path, "r") as f:
                assert f["Header/time_array"][:].mean() == pytest.approx(dump.mid_time_jd)
                assert f["Header/freq_array"][0, 0] > 1.4e9
            assert parse_subband_filename(path).subband == subband
    assert truth.dumps[1].missing == tuple(range(1, 16))


def test_default_source_sits_on_the_first_dump_meridian(small_run):
    source = small_run.sources[0]
    dump = small_run.dumps[0]
    assert source.ra_deg == pytest.approx(dump.meridian_ra_deg)
    assert source.dec_deg == pytest.approx(dump.meridian_dec_deg)
    assert source.flux_jy == 1.0
    # The next dump's meridian is 309 s of sidereal rotation further along the same Dec
    # (an angular separation: rotation-invariant, unlike an ICRS RA difference).
    a = SkyCoord(dump.meridian_ra_deg * u.deg, dump.meridian_dec_deg * u.deg)
    nxt = small_run.dumps[1]
    b = SkyCoord(nxt.meridian_ra_deg * u.deg, nxt.meridian_dec_deg * u.deg)
    turn = np.deg2rad(309.237648 * 360.98564736629 / 86400)
    expected = 2 * np.arcsin(np.cos(np.deg2rad(55.0)) * np.sin(turn / 2))
    assert a.separation(b).rad == pytest.approx(expected, rel=1e-4)


@pytest.mark.filterwarnings("ignore:ERFA function")
@pytest.mark.filterwarnings("ignore:time is out of IERS range")
@pytest.mark.filterwarnings("ignore:.*IERS")
def test_times_beyond_the_earth_orientation_tables_still_simulate(tmp_path, tiny):
    """Offline, astropy's UT1 predictions end; a live test simulating "now" must work."""
    future = datetime.now(UTC) + timedelta(days=3 * 365)
    run = simulate(tmp_path, dataclasses.replace(tiny, start=future, subbands=(0,)))
    with h5py.File(run.files[0], "r") as f:
        assert f["Header/Ntimes"][()] == 24
    assert run.dumps[0].start_time == future
