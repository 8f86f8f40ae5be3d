"""Bad inputs, one by one: each gives an InputValidationError naming the file and the
field, before any heavy work, and leaves nothing at the output path."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import h5py
import pytest

from converter import InputValidationError, convert_group
from converter.grouping import parse_subband_filename
from simulator import SimulationConfig, SimulationResult, simulate
from tests.converter.conftest import N_ANTENNAS, dump_files


@pytest.fixture
def copied(tmp_path: Path, meridian_dump: SimulationResult) -> dict[int, Path]:
    """A private copy of a good dump, by subband, to damage."""
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    return {
        sb: Path(shutil.copy2(path, incoming / path.name))
        for sb, path in meridian_dump.dumps[0].files.items()
    }


def expect_rejection(files: dict[int, Path] | list[Path], bad: Path, field: str, tmp_path: Path):
    paths = list(files.values()) if isinstance(files, dict) else files
    output = tmp_path / "out" / "dump.ms"
    with pytest.raises(InputValidationError) as caught:
        convert_group(paths, output)
    error = caught.value
    assert error.path == bad, str(error)
    assert field in error.field, str(error)
    assert str(bad) in str(error) and field in str(error)
    assert not output.exists()
    leftovers = list(output.parent.iterdir()) if output.parent.exists() else []
    assert leftovers == [], leftovers
    return error


def one_subband(tmp_path: Path, subband: int, **config) -> Path:
    """A single subband file simulated with a different configuration."""
    run = simulate(
        tmp_path / "other",
        SimulationConfig(subbands=(subband,), **{"n_antennas": N_ANTENNAS, **config}),
        truth_path=tmp_path / "other.json",
    )
    return run.files[0]


def replace_with(files: dict[int, Path], subband: int, source: Path) -> Path:
    target = files[subband]
    shutil.copyfile(source, target)
    return target


def test_truncated_file(tmp_path, copied):
    bad = copied[9]
    with bad.open("r+b") as handle:
        handle.truncate(bad.stat().st_size // 2)
    expect_rejection(copied, bad, "HDF5 structure", tmp_path)


def test_visibilities_partly_never_written(tmp_path, copied):
    """The header is fine, half of the visibilities' chunks were never written: refused
    when the survey indexes the file's chunks, before any heavy work."""
    bad = copied[6]
    with h5py.File(bad, "r+") as handle:
        data = handle["Data"]
        shape, chunks, dtype = data["visdata"].shape, data["visdata"].chunks, data["visdata"].dtype
        half = data["visdata"][: shape[0] // 2]
        del data["visdata"]
        rewritten = data.create_dataset(
            "visdata", shape=shape, chunks=chunks, dtype=dtype, maxshape=(None, *shape[1:])
        )
        rewritten[: shape[0] // 2] = half
    error = expect_rejection(copied, bad, "Data/visdata", tmp_path)
    assert "never written" in str(error)


def test_garbage_file(tmp_path, copied):
    bad = copied[4]
    bad.write_bytes(b"\x89HDF-not-really" + bytes(range(256)) * 100)
    expect_rejection(copied, bad, "HDF5 structure", tmp_path)


def test_corrupt_file_from_the_simulator(tmp_path):
    run = simulate(
        tmp_path / "corrupt",
        SimulationConfig(n_antennas=N_ANTENNAS, corrupt=((0, 6),), corrupt_style="garbage"),
        truth_path=tmp_path / "corrupt.json",
    )
    files = dump_files(run)
    expect_rejection(files, run.dumps[0].files[6], "HDF5 structure", tmp_path)


def test_different_number_of_integrations(tmp_path, copied):
    bad = replace_with(copied, 5, one_subband(tmp_path, 5, n_times=20))
    expect_rejection(copied, bad, "Header/Ntimes", tmp_path)


def test_different_antennas(tmp_path, copied):
    bad = replace_with(copied, 3, one_subband(tmp_path, 3, n_antennas=N_ANTENNAS - 1))
    expect_rejection(copied, bad, "Header/Nbls", tmp_path)


def test_different_antennas_same_count(tmp_path, copied):
    bad = replace_with(copied, 3, one_subband(tmp_path, 3, station_numbers=(1, 2, 3, 4, 5, 6)))
    expect_rejection(copied, bad, "ant_1_array", tmp_path)


def test_different_times(tmp_path, copied, meridian_dump):
    later = meridian_dump.dumps[0].start_time + timedelta(seconds=30)
    bad = replace_with(copied, 8, one_subband(tmp_path, 8, start=later, jitter_s=(0.0, 0.0)))
    expect_rejection(copied, bad, "Header/time_array", tmp_path)


def test_different_polarisations(tmp_path, copied):
    bad = copied[11]
    with h5py.File(bad, "r+") as handle:
        handle["Header/polarization_array"][...] = [-5, -7]
    expect_rejection(copied, bad, "Header/polarization_array", tmp_path)


def test_overlapping_frequencies(tmp_path, copied):
    """sb03's data under sb04's name, next to the real sb03."""
    renamed = copied[4]
    shutil.copyfile(copied[3], renamed)
    error = expect_rejection(copied, renamed, "Header/freq_array", tmp_path)
    assert "overlaps" in str(error)


def test_frequencies_of_another_subband(tmp_path, copied):
    """sb03's data under sb05's name, the real sb03 and sb05 absent."""
    renamed = copied.pop(5)
    shutil.copyfile(copied.pop(3), renamed)
    renamed_files = {**copied, 5: renamed}
    error = expect_rejection(renamed_files, renamed, "Header/freq_array", tmp_path)
    assert "subband 3.00" in str(error)


def test_wrong_channel_count(tmp_path, copied):
    bad = replace_with(copied, 12, one_subband(tmp_path, 12, n_channels_per_subband=24))
    expect_rejection(copied, bad, "Header/Nfreqs", tmp_path)


def test_header_disagrees_with_datasets(tmp_path, copied):
    bad = copied[2]
    with h5py.File(bad, "r+") as handle:
        handle["Header/Ntimes"][()] = 25
        handle["Header/Nblts"][()] = 25 * int(handle["Header/Nbls"][()])
    expect_rejection(copied, bad, "Header/time_array", tmp_path)


def test_not_a_drift_scan(tmp_path, copied):
    bad = copied[1]
    with h5py.File(bad, "r+") as handle:
        del handle["Header/phase_type"]
        handle["Header/phase_type"] = b"phased"
    expect_rejection(copied, bad, "Header/phase_type", tmp_path)


def test_name_without_subband(tmp_path, copied):
    bad = copied[7].rename(copied[7].with_name(copied[7].name.replace("_sb07", "")))
    copied[7] = bad
    expect_rejection(copied, bad, "file name", tmp_path)


def test_name_from_another_dump(tmp_path, copied):
    """A file whose name is 20 minutes away from its data."""
    name = parse_subband_filename(copied[10])
    stamp = (name.timestamp + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S")
    bad = copied[10].rename(copied[10].with_name(f"{stamp}_sb10.hdf5"))
    copied[10] = bad
    expect_rejection(copied, bad, "file name", tmp_path)


def test_two_files_for_one_subband(tmp_path, copied):
    duplicate = Path(shutil.copy2(copied[6], copied[6].with_name("2025-10-02T10:02:59_sb06.hdf5")))
    files = [*copied.values(), duplicate]
    first, second = sorted([copied[6], duplicate], key=files.index)
    error = expect_rejection(files, second, "file name", tmp_path)
    assert str(first) in str(error)


def test_missing_file(tmp_path, copied):
    gone = copied[13]
    gone.unlink()
    expect_rejection(copied, gone, "file", tmp_path)


def test_subband_beyond_the_expected_count(tmp_path, copied):
    from converter import ConversionOptions

    output = tmp_path / "out" / "dump.ms"
    with pytest.raises(InputValidationError) as caught:
        convert_group(list(copied.values()), output, ConversionOptions(expected_subbands=8))
    assert caught.value.path == copied[8]
    assert not output.exists()
