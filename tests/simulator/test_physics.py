"""The visibilities are point sources fringestopped on the meridian, in pyuvdata's conventions."""

from __future__ import annotations

import dataclasses
import warnings

import h5py
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import ICRS, EarthLocation, HADec, SkyCoord
from astropy.time import Time

from simulator import PointSource, SimulationConfig, simulate
from tests.simulator.pyuvdata_reader import read_uvdata

SITE = EarthLocation.from_geodetic(
    lon=-2.064427799 * u.rad, lat=0.649845511 * u.rad, height=1188.05 * u.m
)
N_ANTS = 6
N_BLS = N_ANTS * (N_ANTS + 1) // 2
DEC = 55.0


def meridian_source(time_jd: float, flux: float) -> PointSource:
    """A source at HA 0, apparent Dec ``DEC`` at ``time_jd``, computed with astropy alone."""
    here = HADec(
        ha=0 * u.hourangle, dec=DEC * u.deg, obstime=Time(time_jd, format="jd"), location=SITE
    )
    icrs = SkyCoord(here).transform_to(ICRS())
    return PointSource(ra_deg=icrs.ra.deg, dec_deg=icrs.dec.deg, flux_jy=flux)


def read_block(path):
    """visdata (24, Nbls, Nfreqs, 2), uvw (24, Nbls, 3), ant_1, ant_2, freqs, positions."""
    with h5py.File(path, "r") as f:
        vis = f["Data/visdata"][:, 0].reshape(24, N_BLS, -1, 2)
        uvw = f["Header/uvw_array"][:].reshape(24, N_BLS, 3)
        ant_1 = f["Header/ant_1_array"][:N_BLS]
        ant_2 = f["Header/ant_2_array"][:N_BLS]
        freqs = f["Header/freq_array"][0]
        positions = f["Header/antenna_positions"][:]
        times = f["Header/time_array"][::N_BLS]
    return vis, uvw, ant_1, ant_2, freqs, positions, times


@pytest.fixture(scope="module")
def base_config(station_table) -> SimulationConfig:
    return SimulationConfig(
        n_antennas=N_ANTS, subbands=(0, 15), station_table=station_table, pointing_dec_deg=DEC
    )


@pytest.fixture(scope="module")
def times_jd(tmp_path_factory, base_config):
    run = simulate(tmp_path_factory.mktemp("times"), base_config)
    return read_block(run.files[0])[-1]


def test_source_on_the_meridian_of_integration_k_has_zero_phase_there(
    tmp_path, base_config, times_jd
):
    k = 7
    source = meridian_source(times_jd[k], flux=2.5)
    run = simulate(tmp_path, dataclasses.replace(base_config, sources=(source,)))
    for path in run.files:
        vis, _, ant_1, ant_2, *_ = read_block(path)
        cross = ant_1 != ant_2
        assert np.abs(np.angle(vis[k][cross])).max() < 1e-4
        # Away from integration k the source has drifted off the phase centre.
        for other in (0, k + 3, 23):
            assert np.abs(np.angle(vis[other][cross])).max() > 0.5
        np.testing.assert_allclose(np.abs(vis[:, cross]), 2.5, rtol=1e-5)
        autos = vis[:, ~cross]
        np.testing.assert_allclose(autos.real, 2.5, rtol=1e-6)
        assert (autos.imag == 0).all()
        # Flat spectrum, unpolarised: every channel and both polarisations alike in amplitude.
        np.testing.assert_array_equal(vis[..., 0], vis[..., 1])


def test_uvw_point_at_the_apparent_meridian(small_run):
    """Independent check: rotate the baseline into the (HA 0, Dec) frame by hand."""
    dec = np.deg2rad(55.0)
    lon = -2.064427799
    with h5py.File(small_run.files[0], "r") as f:
        nbls = int(f["Header/Nbls"][()])
        uvw = f["Header/uvw_array"][:].reshape(24, nbls, 3)
        ant_1 = f["Header/ant_1_array"][:nbls]
        ant_2 = f["Header/ant_2_array"][:nbls]
        positions = f["Header/antenna_positions"][:]
    baselines = positions[ant_2] - positions[ant_1]  # ECEF, pyuvdata's ant2 - ant1
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-np.sin(dec) * np.cos(lon), -np.sin(dec) * np.sin(lon), np.cos(dec)])
    toward = np.array([np.cos(dec) * np.cos(lon), np.cos(dec) * np.sin(lon), np.sin(dec)])
    expected = baselines @ np.stack([east, north, toward], axis=1)
    assert np.abs(expected).max() > 500  # long baselines make the check meaningful
    for t in range(24):
        np.testing.assert_allclose(uvw[t], expected, atol=2e-3, rtol=1e-6)


def test_pyuvdata_phasing_from_the_meridian_to_the_source_is_coherent(small_run):
    """pyuvdata, told the data are phased to the meridian, phases them to the source."""
    source = small_run.sources[0]
    for path in (small_run.dumps[1].files[0], small_run.dumps[1].files[15]):
        uv = read_uvdata(path)
        declare_meridian_phased(uv)
        wrong = uv.copy()
        wrong.data_array = wrong.data_array.conj()
        for data in (uv, wrong):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data.phase(
                    lon=np.deg2rad(source.ra_deg), lat=np.deg2rad(source.dec_deg), cat_name="src"
                )
        cross = uv.ant_1_array != uv.ant_2_array
        assert np.abs(np.angle(uv.data_array[cross])).max() < 0.01
        # The opposite sign convention would not come out coherent.
        assert np.abs(np.angle(wrong.data_array[cross])).max() > 1.0


def declare_meridian_phased(uv) -> None:
    """Tell pyuvdata that each integration is phased to (HA 0, Dec = phase_center_dec)."""
    cat_id = uv._add_phase_center(
        "meridian", cat_type="driftscan", cat_lon=0.0, cat_lat=np.pi / 2, cat_frame="altaz"
    )
    uv.phase_center_id_array[:] = cat_id
    uv._clear_unused_phase_centers()
    uv.phase_center_app_ra = uv.lst_array.copy()
    uv.phase_center_app_dec = np.full(uv.Nblts, uv.extra_keywords["phase_center_dec"])
    uv.phase_center_frame_pa = np.zeros(uv.Nblts)


def test_two_sources_add_and_autos_carry_the_total_flux(tmp_path, base_config, times_jd):
    sources = (meridian_source(times_jd[3], 1.0), meridian_source(times_jd[20], 4.0))
    run = simulate(tmp_path, dataclasses.replace(base_config, sources=sources, subbands=(8,)))
    vis, _, ant_1, ant_2, *_ = read_block(run.files[0])
    autos = vis[:, ant_1 == ant_2]
    np.testing.assert_allclose(autos.real, 5.0, rtol=1e-6)
    cross = np.abs(vis[:, ant_1 != ant_2])
    assert cross.max() <= 5.0 + 1e-4
    assert cross.min() < 4.0  # the two fringes beat against each other


def test_noise_has_the_requested_rms_and_follows_the_seed(tmp_path, base_config):
    clean = simulate(tmp_path / "clean", dataclasses.replace(base_config, subbands=(2,)))
    noisy_config = dataclasses.replace(base_config, subbands=(2,), noise_jy=0.5, seed=11)
    noisy = simulate(tmp_path / "noisy", noisy_config)
    again = simulate(tmp_path / "again", noisy_config)
    other = simulate(tmp_path / "other", dataclasses.replace(noisy_config, seed=12))
    base, _, ant_1, ant_2, *_ = read_block(clean.files[0])
    data = read_block(noisy.files[0])[0]
    cross = ant_1 != ant_2
    residual = (data - base)[:, cross]
    assert residual.real.std() == pytest.approx(0.5, rel=0.05)
    assert residual.imag.std() == pytest.approx(0.5, rel=0.05)
    autos = (data - base)[:, ~cross]
    assert (autos.imag == 0).all() and autos.real.std() > 0.3
    np.testing.assert_array_equal(read_block(again.files[0])[0], data)
    assert not np.array_equal(read_block(other.files[0])[0], data)
