"""The converted data are physically right: a source at the phase centre is coherent,
the phase centre is where astropy says the meridian is, and reading the files as
zenith-phased (pyuvdata's default) would not be."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import FK5, Angle, EarthLocation, HADec, SkyCoord
from astropy.time import Time

from converter import ConversionOptions, convert_group
from converter.reference import read_concatenated
from simulator import SimulationResult
from tests.converter.conftest import FLUX_JY, dump_files
from tests.converter.helpers import coherence, read_column, uvdata_coherence

OVRO_MMA = EarthLocation.from_geodetic(
    lon=-2.064427799 * u.rad, lat=0.649845511 * u.rad, height=1188.05 * u.m
)


def assert_coherent(ms: Path, flux_jy: float) -> None:
    """The acceptance criterion: > 0.98 coherent, phase within 3°, amplitude within 2%."""
    result = coherence(ms)
    assert result.magnitude > 0.98, result
    assert abs(result.phase_deg) < 3.0, result
    assert result.amplitude == pytest.approx(flux_jy, rel=0.02), result


@pytest.fixture(scope="module")
def meridian_ms(tmp_path_factory, meridian_dump: SimulationResult) -> Path:
    output = tmp_path_factory.mktemp("physics") / "meridian.ms"
    convert_group(dump_files(meridian_dump), output)
    return output


def test_source_at_the_default_centre_is_coherent(meridian_ms, meridian_dump):
    assert_coherent(meridian_ms, meridian_dump.sources[0].flux_jy)


def test_offset_source_is_coherent_at_a_given_ra_dec(tmp_path, offset_dump):
    source = offset_dump.sources[0]
    output = tmp_path / "offset.ms"
    options = ConversionOptions(ra=Angle(source.ra_deg, u.deg), dec=Angle(source.dec_deg, u.deg))
    result = convert_group(dump_files(offset_dump), output, options)
    assert_coherent(output, FLUX_JY)
    assert result.field_name.startswith("J")
    assert not result.subbands_missing


def test_offset_source_is_not_coherent_at_the_default_centre(tmp_path, offset_dump):
    """The coherence test can fail: the default centre is 1.7° from this source."""
    output = tmp_path / "default.ms"
    convert_group(dump_files(offset_dump), output)
    assert coherence(output).magnitude < 0.5


def test_field_centre_is_the_meridian_at_mid_time_per_astropy(meridian_ms, meridian_dump):
    """Independent calculation: astropy's HADec frame at HA=0, the pointing Dec."""
    truth = meridian_dump.dumps[0]
    mid = Time(truth.mid_time_jd, format="jd", scale="utc")
    meridian = HADec(
        ha=0 * u.hourangle,
        dec=meridian_dump.pointing_dec_deg * u.deg,
        obstime=mid,
        location=OVRO_MMA,
    )
    expected = SkyCoord(meridian).transform_to(FK5(equinox="J2000"))
    phase_dir = read_column(meridian_ms, "PHASE_DIR", "FIELD")[0, 0]
    actual = SkyCoord(phase_dir[0] * u.rad, phase_dir[1] * u.rad, frame=FK5(equinox="J2000"))
    assert actual.separation(expected).arcsec < 2.0
    with_meta = read_column(meridian_ms, "NAME", "FIELD")
    assert list(with_meta) == ["meridian_20251002T100245"]


def test_reading_the_files_as_zenith_phased_fails_the_coherence_test(meridian_dump):
    """pyuvdata's default reading of 'drift' files takes them as unprojected (zenith):
    phasing those data to the same centre leaves the source incoherent."""
    truth = meridian_dump.dumps[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uvd = read_concatenated(dump_files(meridian_dump))
        assert uvd.phase_center_catalog[0]["cat_type"] == "unprojected"
        centre = SkyCoord(truth.meridian_ra_deg * u.deg, truth.meridian_dec_deg * u.deg)
        uvd.phase(lon=centre.ra.rad, lat=centre.dec.rad, cat_name="as zenith", phase_frame="icrs")
    cross = uvd.ant_1_array != uvd.ant_2_array
    result = uvdata_coherence(uvd.data_array, uvd.flag_array, cross)
    assert result.magnitude < 0.98, result


def test_missing_subbands_are_present_flagged_and_in_place(tmp_path, gappy_dump):
    from simulator.telescope import subband_frequencies

    output = tmp_path / "gappy.ms"
    result = convert_group(dump_files(gappy_dump), output)
    assert result.subbands_missing == (0, 7)
    assert result.n_channels == 768
    freqs = read_column(output, "CHAN_FREQ", "SPECTRAL_WINDOW")[0]
    expected = np.sort(np.concatenate([subband_frequencies(sb) for sb in range(16)]))
    np.testing.assert_allclose(freqs, expected, rtol=0, atol=1e-3)
    flags = read_column(output, "FLAG")
    data = read_column(output, "DATA")
    for subband in range(16):
        channels = slice((15 - subband) * 48, (16 - subband) * 48)
        if subband in (0, 7):
            assert flags[:, channels].all()
            assert not data[:, channels].any()
        else:
            assert not flags[:, channels].any()
    assert not read_column(output, "FLAG_ROW").any()


def test_antenna_table_times_and_observatory(meridian_ms, meridian_dump):
    positions = read_column(meridian_ms, "POSITION", "ANTENNA")
    assert positions.shape == (117, 3)
    centre = np.array([c.to_value(u.m) for c in OVRO_MMA.to_geocentric()])
    distance_km = np.linalg.norm(positions - centre, axis=1) / 1e3
    assert distance_km.max() < 3.0  # every antenna is on site, in absolute ITRF metres
    assert (read_column(meridian_ms, "DISH_DIAMETER", "ANTENNA") == 4.65).all()
    assert read_column(meridian_ms, "NAME", "ANTENNA")[0] == "1"
    truth = meridian_dump.dumps[0]
    times = np.unique(read_column(meridian_ms, "TIME"))
    assert times.size == 24
    expected = Time([truth.first_time_jd, truth.last_time_jd], format="jd").mjd * 86400
    np.testing.assert_allclose(times[[0, -1]], expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(read_column(meridian_ms, "INTERVAL"), 12.884902)
    assert read_column(meridian_ms, "TELESCOPE_NAME", "OBSERVATION")[0] == "OVRO_MMA"
    assert (read_column(meridian_ms, "ANTENNA1") <= read_column(meridian_ms, "ANTENNA2")).all()
    assert read_column(meridian_ms, "UVW").dtype == np.float64
    corr = read_column(meridian_ms, "CORR_TYPE", "POLARIZATION")[0]
    assert list(corr) == [9, 12]  # XX, YY


def test_station_table_positions_replace_the_files(tmp_path, meridian_dump, station_table):
    from simulator.stations import read_station_table

    output = tmp_path / "stations.ms"
    convert_group(
        dump_files(meridian_dump), output, ConversionOptions(antenna_positions=station_table)
    )
    positions = read_column(output, "POSITION", "ANTENNA")
    for station in read_station_table(station_table)[:3] + read_station_table(station_table)[-2:]:
        height = station.elevation_m if station.elevation_m is not None else 1188.05
        where = EarthLocation.from_geodetic(
            lon=station.lon_deg * u.deg, lat=station.lat_deg * u.deg, height=height * u.m
        )
        xyz = np.array([c.to_value(u.m) for c in where.to_geocentric()])
        np.testing.assert_allclose(positions[station.number - 1], xyz, rtol=0, atol=1e-3)
    # The simulator took its positions from the same table: still coherent.
    assert_coherent(output, meridian_dump.sources[0].flux_jy)


def test_calibrator_model_and_imaging_columns(tmp_path, meridian_dump):
    output = tmp_path / "model.ms"
    convert_group(
        dump_files(meridian_dump),
        output,
        ConversionOptions(flux_jy=10.0, imaging_columns=True),
    )
    model = read_column(output, "MODEL_DATA")
    corrected = read_column(output, "CORRECTED_DATA")
    np.testing.assert_array_equal(corrected, read_column(output, "DATA"))
    freqs = read_column(output, "CHAN_FREQ", "SPECTRAL_WINDOW")[0]
    # At the mid-time the source is on the pointing axis: pb = 1, pure spectral index.
    times = read_column(output, "TIME")
    mid_rows = np.flatnonzero(times == np.unique(times)[11])
    spectrum = 10.0 * (freqs / 1.4e9) ** -0.7
    np.testing.assert_allclose(model[mid_rows[0], :, 0].real, spectrum, rtol=2e-3)
    assert np.all(model.imag == 0)
    # Away from the pointing the beam attenuates, more at higher frequency.
    first = model[0, :, 0].real / spectrum
    assert np.all(first < 1.0) and first[-1] < first[0]


def test_default_conversion_has_no_imaging_columns(meridian_ms):
    from casacore import tables

    with tables.table(str(meridian_ms), ack=False) as table:
        columns = set(table.colnames())
    assert "DATA" in columns
    assert not {"MODEL_DATA", "CORRECTED_DATA"} & columns
