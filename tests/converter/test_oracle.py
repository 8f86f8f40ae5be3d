"""The converter agrees with the straightforward pyuvdata path on the same inputs."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Angle

from converter import ConversionOptions, ConversionResult, convert_group
from converter.reference import convert_with_pyuvdata
from simulator import SimulationResult
from tests.converter.conftest import dump_files
from tests.converter.helpers import read_column


def convert_both(
    files: list[Path], tmp_path: Path, options: ConversionOptions
) -> tuple[Path, Path, ConversionResult]:
    ours = tmp_path / "ours.ms"
    result = convert_group(files, ours, options)
    reference = tmp_path / "reference.ms"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyuvdata's remarks on the files' uvws
        convert_with_pyuvdata(
            files,
            reference,
            ra_rad=result.phase_center_ra_rad,
            dec_rad=result.phase_center_dec_rad,
        )
    return ours, reference, result


def assert_same_ms(ours: Path, reference: Path) -> None:
    data, ref_data = read_column(ours, "DATA"), read_column(reference, "DATA")
    assert data.shape == ref_data.shape
    assert np.abs(ref_data).min() > 0  # noise: no zero to divide by
    relative = np.abs(data - ref_data) / np.abs(ref_data)
    assert relative.max() < 1e-5, relative.max()
    uvw_error = np.abs(read_column(ours, "UVW") - read_column(reference, "UVW")).max()
    assert uvw_error < 1e-3, uvw_error
    np.testing.assert_array_equal(read_column(ours, "FLAG"), read_column(reference, "FLAG"))
    for column in ("ANTENNA1", "ANTENNA2"):
        np.testing.assert_array_equal(read_column(ours, column), read_column(reference, column))
    np.testing.assert_allclose(
        read_column(ours, "TIME"), read_column(reference, "TIME"), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(
        read_column(ours, "CHAN_FREQ", "SPECTRAL_WINDOW"),
        read_column(reference, "CHAN_FREQ", "SPECTRAL_WINDOW"),
        rtol=0,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        read_column(ours, "POSITION", "ANTENNA"),
        read_column(reference, "POSITION", "ANTENNA"),
        rtol=0,
        atol=1e-6,
    )
    assert list(read_column(ours, "NAME", "ANTENNA")) == list(
        read_column(reference, "NAME", "ANTENNA")
    )
    np.testing.assert_allclose(
        read_column(ours, "PHASE_DIR", "FIELD"),
        read_column(reference, "PHASE_DIR", "FIELD"),
        rtol=0,
        atol=1e-12,
    )


def test_default_centre_matches_pyuvdata(tmp_path, noisy_dump: SimulationResult):
    ours, reference, _ = convert_both(dump_files(noisy_dump), tmp_path, ConversionOptions())
    assert_same_ms(ours, reference)


@pytest.mark.parametrize("offset_deg", [(-1.0, 0.5), (2.0, -1.5)])
def test_given_centre_matches_pyuvdata(tmp_path, noisy_dump: SimulationResult, offset_deg):
    truth = noisy_dump.dumps[0]
    options = ConversionOptions(
        ra=Angle(truth.meridian_ra_deg + offset_deg[0], u.deg),
        dec=Angle(truth.meridian_dec_deg + offset_deg[1], u.deg),
    )
    ours, reference, _ = convert_both(dump_files(noisy_dump), tmp_path, options)
    assert_same_ms(ours, reference)


def test_the_comparison_can_fail(tmp_path, noisy_dump: SimulationResult):
    """A centre 1 arcmin away from the reference's must break the 1e-5 agreement."""
    files = dump_files(noisy_dump)
    result = convert_group(files, tmp_path / "ours.ms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert_with_pyuvdata(
            files,
            tmp_path / "reference.ms",
            ra_rad=result.phase_center_ra_rad + np.deg2rad(1 / 60),
            dec_rad=result.phase_center_dec_rad,
        )
    with pytest.raises(AssertionError):
        assert_same_ms(tmp_path / "ours.ms", tmp_path / "reference.ms")


def test_flags_and_varying_nsamples_match_pyuvdata(tmp_path, noisy_dump: SimulationResult):
    """Files with some flags set, one row flagged everywhere, and nsamples that vary in
    some rows: FLAG, WEIGHT and SIGMA as pyuvdata writes them, FLAG_ROW as FLAG says."""
    rng = np.random.default_rng(5)
    files = []
    for n, source in enumerate(dump_files(noisy_dump)):
        target = tmp_path / "incoming" / source.name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
        with h5py.File(target, "r+") as handle:
            flags = handle["Data"]["flags"]
            values = flags[()]
            values |= rng.random(values.shape) < 0.01
            values[7] = True  # one row flagged in every file, every channel and pol
            flags[...] = values
            if n % 4:  # nsamples differ in some rows of most files
                nsamples = handle["Data"]["nsamples"]
                samples = nsamples[()]
                samples[::13] = rng.choice([2.0, 3.0], samples[::13].shape)
                nsamples[...] = samples
        files.append(target)
    ours, reference, _ = convert_both(files, tmp_path, ConversionOptions())
    assert_same_ms(ours, reference)
    flag_row = read_column(ours, "FLAG_ROW")
    assert flag_row[7] and not flag_row[8]
    # pyuvdata leaves FLAG_ROW False; ours marks rows whose every value is flagged.
    np.testing.assert_array_equal(flag_row, read_column(ours, "FLAG").all(axis=(1, 2)))
    weight = read_column(ours, "WEIGHT")
    assert len(np.unique(weight)) > 1
    np.testing.assert_allclose(weight, read_column(reference, "WEIGHT"), rtol=1e-6)
    np.testing.assert_allclose(
        read_column(ours, "SIGMA"), read_column(reference, "SIGMA"), rtol=1e-6
    )
