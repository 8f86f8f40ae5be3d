"""Files are in the correlator's layout (DOMAIN.md §2) and pyuvdata reads every one."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.time import Time

from simulator import simulate
from simulator.stations import read_station_table
from simulator.telescope import DUMP_CADENCE_S, INTEGRATION_TIME_S
from tests.simulator.pyuvdata_reader import read_uvdata

N_ANTS = 5
N_BLS = N_ANTS * (N_ANTS + 1) // 2
CHANNEL_WIDTH = 244140.625


def test_pyuvdata_reads_every_file(small_run):
    assert len(small_run.files) == 32
    for path in small_run.files:
        uv = read_uvdata(path)
        assert uv.Nblts == N_BLS * 24
        assert uv.data_array.shape == (N_BLS * 24, 48, 2)


def test_header_matches_the_correlator(small_run):
    with h5py.File(small_run.dumps[0].files[3], "r") as f:
        h = f["Header"]
        assert h["telescope_name"][()] == b"OVRO_MMA"
        assert h["instrument"][()] == b"DSA"
        assert h["phase_type"][()] == b"drift"
        assert h["latitude"][()] == pytest.approx(np.rad2deg(0.649845511), abs=1e-12)
        assert h["longitude"][()] == pytest.approx(np.rad2deg(-2.064427799), abs=1e-12)
        assert h["altitude"][()] == pytest.approx(1188.05)
        assert h["Nants_telescope"][()] == 117
        assert [n.decode() for n in h["antenna_names"][:]] == [str(i) for i in range(1, 118)]
        np.testing.assert_array_equal(h["antenna_numbers"][:], np.arange(117))
        np.testing.assert_array_equal(h["antenna_diameters"][:], np.full(117, 4.65))
        assert h["antenna_positions"].shape == (117, 3)
        assert h["Nants_data"][()] == N_ANTS
        assert h["Nbls"][()] == N_BLS
        assert h["Ntimes"][()] == 24
        assert h["Nblts"][()] == N_BLS * 24
        assert h["Nfreqs"][()] == 48
        assert h["Npols"][()] == 2
        assert h["Nspws"][()] == 1
        np.testing.assert_array_equal(h["polarization_array"][:], [-5, -6])
        assert h["uvw_array"].dtype == np.float32
        assert h["uvw_array"].shape == (N_BLS * 24, 3)
        assert h["channel_width"][()] == CHANNEL_WIDTH
        assert "lst_array" not in h  # the correlator does not write it
        extra = h["extra_keywords"]
        assert extra["phase_center_dec"][()] == pytest.approx(np.deg2rad(55.0))
        assert extra["ha_phase_center"][()] == 0.0
        assert extra["phase_center_epoch"][()] == b"HADEC"
        assert extra["fs_table"][()]
        assert len(extra["applied_delays_ns"][()].split()) == 2 * 117
        d = f["Data"]
        for name, dtype in (
            ("visdata", np.complex64),
            ("flags", np.bool_),
            ("nsamples", np.float32),
        ):
            assert d[name].dtype == dtype
            assert d[name].shape == (N_BLS * 24, 1, 48, 2)
        assert not d["flags"][:].any()
        assert (d["nsamples"][:] == 1.0).all()


def test_pyuvdata_sees_drift_data_with_the_extra_keywords(small_run):
    uv = read_uvdata(small_run.dumps[0].files[0])
    assert uv.phase_center_catalog[uv.phase_center_id_array[0]]["cat_type"] == "unprojected"
    assert uv.extra_keywords["phase_center_epoch"] == "HADEC"
    assert uv.extra_keywords["ha_phase_center"] == 0.0
    assert uv.telescope.name == "OVRO_MMA"
    assert uv.telescope.Nants == 117
    assert list(uv.polarization_array) == [-5, -6]


def test_frequencies_descend_within_subbands_and_sb00_is_highest(small_run):
    freqs = {}
    for subband, path in small_run.dumps[0].files.items():
        with h5py.File(path, "r") as f:
            freqs[subband] = f["Header/freq_array"][0]
    for values in freqs.values():
        np.testing.assert_allclose(np.diff(values), -CHANNEL_WIDTH)
    for subband in range(15):
        # Each subband continues one channel below the previous (contiguous band).
        assert freqs[subband + 1][0] == pytest.approx(freqs[subband][-1] - CHANNEL_WIDTH)
    assert freqs[0][0] / 1e6 == pytest.approx(1498.643, abs=1e-3)
    assert freqs[15][-1] / 1e6 == pytest.approx(1311.387, abs=1e-3)
    assert freqs[15][0] / 1e6 == pytest.approx(1322.862, abs=1e-3)


def test_times_are_24_integrations_from_the_dump_start(small_run):
    dump = small_run.dumps[1]
    uv = read_uvdata(dump.files[5])
    times = np.unique(uv.time_array)
    assert times.size == 24
    np.testing.assert_allclose(np.diff(times) * 86400, INTEGRATION_TIME_S, atol=1e-4)
    start_jd = Time(dump.start_time).jd
    assert (times[0] - start_jd) * 86400 == pytest.approx(INTEGRATION_TIME_S / 2, abs=1e-4)
    assert (times[-1] - times[0]) * 86400 + INTEGRATION_TIME_S == pytest.approx(
        DUMP_CADENCE_S, abs=1e-4
    )
    np.testing.assert_allclose(uv.integration_time, INTEGRATION_TIME_S)
    assert dump.mid_time_jd == pytest.approx(times.mean(), abs=1e-9)


def test_baselines_are_time_major_with_autos(small_run):
    with h5py.File(small_run.dumps[0].files[0], "r") as f:
        ant_1 = f["Header/ant_1_array"][:].reshape(24, N_BLS)
        ant_2 = f["Header/ant_2_array"][:].reshape(24, N_BLS)
        times = f["Header/time_array"][:].reshape(24, N_BLS)
    assert (times == times[:, :1]).all()
    assert (ant_1 == ant_1[0]).all() and (ant_2 == ant_2[0]).all()
    pairs = list(zip(ant_1[0], ant_2[0], strict=True))
    assert all(a <= b for a, b in pairs)
    assert len(set(pairs)) == N_BLS
    ants = sorted(set(ant_1[0]) | set(ant_2[0]))
    assert len(ants) == N_ANTS
    assert sum(a == b for a, b in pairs) == N_ANTS


def test_antenna_positions_come_from_the_station_table(small_run, station_table):
    stations = {s.number: s for s in read_station_table(station_table)}
    centre = EarthLocation.from_geodetic(
        lon=-2.064427799 * u.rad, lat=0.649845511 * u.rad, height=1188.05 * u.m
    )
    with h5py.File(small_run.dumps[0].files[0], "r") as f:
        positions = f["Header/antenna_positions"][:]
        data_ants = np.unique(f["Header/ant_1_array"][:])
    assert [a + 1 for a in data_ants] == list(small_run.station_numbers)
    for number in small_run.station_numbers:
        s = stations[number]
        height = 1188.05 if s.elevation_m is None else s.elevation_m  # DSA-117 has none
        loc = EarthLocation.from_geodetic(
            lon=s.lon_deg * u.deg, lat=s.lat_deg * u.deg, height=height * u.m
        )
        expected = [
            (loc.x - centre.x).to_value(u.m),
            (loc.y - centre.y).to_value(u.m),
            (loc.z - centre.z).to_value(u.m),
        ]
        np.testing.assert_allclose(positions[number - 1], expected, atol=1e-6)
    # The array spans kilometres: the chosen antennas are spread over both arms.
    spread = np.ptp(positions[data_ants], axis=0)
    assert np.linalg.norm(spread) > 1000


def test_optional_lst_array_matches_pyuvdata(tmp_path, small_config):
    config = dataclasses.replace(small_config, n_dumps=1, subbands=(4,), write_lst_array=True)
    path = simulate(tmp_path, config).files[0]
    with h5py.File(path, "r") as f:
        written = f["Header/lst_array"][:]
    computed = read_uvdata(path).lst_array  # pyuvdata reads the stored one...
    np.testing.assert_array_equal(written, computed)
    with h5py.File(path, "r+") as f:
        del f["Header/lst_array"]
    recomputed = read_uvdata(path).lst_array  # ...or computes its own from time_array
    np.testing.assert_allclose(written, recomputed, atol=1e-9)
