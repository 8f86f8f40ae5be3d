"""The header check: a summary that matches the simulator's truth, and every kind of
inconsistency a half-written or damaged file shows."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from producer.header import HeaderProblem, read_header_summary
from simulator import SimulationResult
from simulator.telescope import subband_frequencies


@pytest.fixture
def simulation(small_dump: SimulationResult) -> SimulationResult:
    return small_dump


@pytest.mark.parametrize("subband", [0, 15])
def test_summary_matches_the_simulated_file(simulation: SimulationResult, subband: int) -> None:
    dump = simulation.dumps[0]
    summary = read_header_summary(dump.files[subband])
    freqs = subband_frequencies(subband)
    assert (summary.n_times, summary.n_baselines, summary.n_freqs, summary.n_pols) == (4, 10, 48, 2)
    assert summary.n_antennas_data == 4
    assert summary.freq_min_hz == pytest.approx(freqs.min())
    assert summary.freq_max_hz == pytest.approx(freqs.max())
    assert summary.time_start_jd == pytest.approx(dump.first_time_jd, abs=1e-9)
    assert summary.time_end_jd == pytest.approx(dump.last_time_jd, abs=1e-9)
    assert summary.pointing_dec_rad == pytest.approx(np.deg2rad(simulation.pointing_dec_deg))


def test_pyuvdata_written_file_is_accepted(simulation: SimulationResult, tmp_path: Path) -> None:
    from pyuvdata import UVData

    source = simulation.dumps[0].files[0]
    uvdata = UVData.from_file(source, file_type="uvh5", run_check=False)
    uvdata.uvw_array = uvdata.uvw_array.astype(np.float64)  # the correlator writes float32
    rewritten = tmp_path / source.name
    uvdata.write_uvh5(rewritten, run_check=False)
    original, again = read_header_summary(source), read_header_summary(rewritten)
    assert again.n_times == original.n_times and again.n_freqs == original.n_freqs
    assert again.freq_min_hz == pytest.approx(original.freq_min_hz)
    assert again.time_end_jd == pytest.approx(original.time_end_jd)


def _set(path: str, value: int) -> Callable[[h5py.File], None]:
    def edit(handle: h5py.File) -> None:
        del handle[path]
        handle[path] = value
    return edit


def _resize(path: str, rows: int) -> Callable[[h5py.File], None]:
    return lambda handle: handle[path].resize(rows, axis=0)


def _delete(path: str) -> Callable[[h5py.File], None]:
    def edit(handle: h5py.File) -> None:
        del handle[path]
    return edit


def _empty(handle: h5py.File) -> None:
    """What the correlator's writer leaves right after creating a file."""
    for name in ("Header/Ntimes", "Header/Nblts"):
        _set(name, 0)(handle)
    for name in ("Header/time_array", "Header/ant_1_array", "Header/ant_2_array",
                 "Header/uvw_array", "Data/visdata", "Data/flags", "Data/nsamples"):
        handle[name].resize(0, axis=0)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_empty, "empty file"),
        (_set("Header/Nblts", 39), "Nblts=39 but Nbls·Ntimes"),
        (_resize("Data/visdata", 30), "Data/visdata has shape (30, 1, 48, 2)"),
        (_resize("Header/time_array", 30), "Header/time_array has shape (30,)"),
        (_delete("Header/Nbls"), "missing Header/Nbls"),
        (_delete("Data"), "no HDF5 group 'Data'"),
    ],
    ids=["just-created", "nblts", "visdata-rows", "time-rows", "no-nbls", "no-data"],
)
def test_inconsistent_headers_are_named(
    simulation: SimulationResult, tmp_path: Path, edit: Callable[[h5py.File], None],
    expected: str,
) -> None:
    damaged = tmp_path / "damaged.hdf5"
    shutil.copyfile(simulation.dumps[0].files[0], damaged)
    with h5py.File(damaged, "r+") as handle:
        edit(handle)
    with pytest.raises(HeaderProblem) as caught:
        read_header_summary(damaged)
    assert expected in caught.value.reason


def test_truncated_and_garbage_files_cannot_be_opened(
    simulation: SimulationResult, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.hdf5"
    content = simulation.dumps[0].files[0].read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    for path in (truncated, garbage):
        with pytest.raises(HeaderProblem, match="cannot open as HDF5"):
            read_header_summary(path)
