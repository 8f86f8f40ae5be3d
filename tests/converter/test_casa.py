"""CASA itself reads the converted MS: summary, metadata, and an image of the sky."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import FK5, Angle, SkyCoord

from converter import ConversionOptions, convert_group
from simulator import SimulationResult
from tests.converter.conftest import dump_files

pytestmark = pytest.mark.casa

#: The MS is phased this far from the source, so the image must show it off-centre.
SHIFT_RA_ARCSEC = 40.0
SHIFT_DEC_ARCSEC = -30.0


@pytest.fixture(scope="module")
def shifted_ms(tmp_path_factory, offset_dump: SimulationResult) -> tuple[Path, SkyCoord]:
    """The offset dump phased to a centre a little away from its source."""
    source = offset_dump.sources[0]
    where = SkyCoord(source.ra_deg * u.deg, source.dec_deg * u.deg, frame=FK5(equinox="J2000"))
    centre = where.spherical_offsets_by(-SHIFT_RA_ARCSEC * u.arcsec, -SHIFT_DEC_ARCSEC * u.arcsec)
    output = tmp_path_factory.mktemp("casa") / "shifted.ms"
    convert_group(
        dump_files(offset_dump),
        output,
        ConversionOptions(ra=Angle(centre.ra), dec=Angle(centre.dec)),
    )
    return output, where


def test_casatools_summarise_the_ms(shifted_ms, offset_dump):
    import casatools

    ms_path, _ = shifted_ms
    msmd = casatools.msmetadata()
    msmd.open(str(ms_path))
    try:
        assert msmd.nrows() == 21 * 24
        assert msmd.nspw() == 1
        assert msmd.nchan(0) == 768
        assert msmd.nfields() == 1
        assert msmd.fieldnames()[0].startswith("J")
        assert msmd.nantennas() == 117
        assert set(msmd.antennasforscan(1)) == {n - 1 for n in offset_dump.station_numbers}
        assert msmd.observatorynames() == ["OVRO_MMA"]
        freqs = msmd.chanfreqs(0)
        assert np.all(np.diff(freqs) > 0)
        assert msmd.corrtypesforpol(0).tolist() == [9, 12]
    finally:
        msmd.close()
    ms = casatools.ms()
    ms.open(str(ms_path))
    try:
        summary = ms.summary()
        assert summary["nfields"] == 1
        assert ms.nrow() == 504
    finally:
        ms.close()


def test_listobs_runs_and_reports_the_ms(shifted_ms, tmp_path):
    from casatasks import listobs

    ms_path, _ = shifted_ms
    listing = tmp_path / "listobs.txt"
    result = listobs(vis=str(ms_path), listfile=str(listing), overwrite=True)
    text = listing.read_text()
    assert "OVRO_MMA" in text
    assert "768" in text  # channels of the spectral window
    assert result["nfields"] == 1
    assert result["field_0"]["name"].startswith("J")


@pytest.mark.slow
def test_tclean_puts_the_source_where_it_is(shifted_ms, tmp_path):
    """Sign conventions end to end: CASA images the source at its true J2000 position,
    off the phase centre by the shift (a mirrored uvw or conjugated data would put it
    at twice the shift from the truth)."""
    import casatools
    from casatasks import tclean

    ms_path, truth = shifted_ms
    image = tmp_path / "dirty"
    tclean(
        vis=str(ms_path),
        imagename=str(image),
        imsize=[256, 256],
        cell="2arcsec",
        specmode="mfs",
        niter=0,
        weighting="natural",
        gridder="standard",
    )
    ia = casatools.image()
    ia.open(str(image) + ".image")
    try:
        peak = ia.statistics()["maxpos"]
        world = ia.coordsys().toworld(peak)["numeric"]
    finally:
        ia.close()
    found = SkyCoord(world[0] * u.rad, world[1] * u.rad, frame=FK5(equinox="J2000"))
    assert found.separation(truth).arcsec < 4.0
