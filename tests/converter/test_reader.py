"""The raw-chunk reader returns exactly what h5py returns, for every layout: the
correlator's chunked datasets, contiguous ones, compressed ones (read through h5py) and
datasets without the spectral-window axis."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from converter import convert_group
from converter.chunk_index import FREQ, POL, ROW
from converter.reader import DATASETS, SubbandReader
from converter.rephase import Batch, gather_into
from simulator import SimulationResult
from tests.converter.conftest import dump_files
from tests.converter.helpers import read_column


def rewrite_datasets(source: Path, target: Path, *, squeeze: bool = False, **create) -> Path:
    """Copy a subband file, recreating its three data datasets with other storage."""
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as handle:
        for name in DATASETS:
            values = handle["Data"][name][()]
            del handle["Data"][name]
            if squeeze:
                values = values[:, 0]
            handle["Data"].create_dataset(name, data=values, **create)
    return target


def read_back(reader: SubbandReader, block: int) -> dict[str, np.ndarray]:
    """Every row, block by block, through the kernels' view of the file."""
    n_rows, n_freqs, n_pols = reader.layouts["visdata"].shape
    out = {name: np.zeros((n_rows, n_freqs, n_pols), dt) for name, dt in DATASETS.items()}
    for start in range(0, n_rows, block):
        stop = min(n_rows, start + block)
        for name in DATASETS:
            source = reader.source(name, start, stop)
            batch = Batch.of([source], [0], [False], n_freqs, (0, 1))
            gather_into(batch, out[name][start:stop], stop - start)
        reader.done_with(start, stop)
    return out


def expected(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {
            name: handle["Data"][name][()].reshape(handle["Data"][name].shape[0], -1, 2)
            for name in DATASETS
        }


@pytest.fixture(scope="module")
def sample(meridian_dump: SimulationResult) -> Path:
    return meridian_dump.dumps[0].files[3]


@pytest.mark.parametrize("block", [256, 512, 768 * 4])
def test_chunked_correlator_layout(sample, block):
    with SubbandReader(sample) as reader:
        assert all(layout.mapped for layout in reader.layouts.values())  # not through h5py
        assert reader.row_alignment == 256
        got = read_back(reader, block)
    for name, values in expected(sample).items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


@pytest.mark.parametrize(
    ("label", "create", "raw"),
    [
        ("contiguous", {}, True),
        ("contiguous_3d", {"squeeze": True}, True),
        ("gzip", {"compression": "gzip", "chunks": (100, 1, 48, 2)}, False),
        ("odd_chunks", {"chunks": (96, 1, 20, 1)}, True),
    ],
)
def test_other_layouts(tmp_path, sample, label, create, raw):
    squeeze = create.pop("squeeze", False)
    path = rewrite_datasets(sample, tmp_path / sample.name, squeeze=squeeze, **create)
    with SubbandReader(path) as reader:
        uses_raw = all(layout.mapped for layout in reader.layouts.values())
        assert uses_raw == raw, label
        got = read_back(reader, 3 * reader.row_alignment if reader.row_alignment > 1 else 200)
    for name, values in expected(path).items():
        np.testing.assert_array_equal(got[name], values, err_msg=f"{label} {name}")


@pytest.mark.parametrize("mix", ["gzip_and_contiguous", "contiguous"])
def test_conversion_is_the_same_whatever_the_layout(tmp_path, noisy_dump, mix):
    """Also the two-thread split of a block: contiguous files align on every row."""
    files = dump_files(noisy_dump)
    convert_group(files, tmp_path / "chunked.ms")
    other = tmp_path / "other"
    other.mkdir()
    rewritten = [
        rewrite_datasets(
            f,
            other / f.name,
            **({"compression": "gzip"} if i % 2 and mix != "contiguous" else {"squeeze": True}),
        )
        for i, f in enumerate(files)
    ]
    convert_group(rewritten, tmp_path / "rewritten.ms")
    for column in ("DATA", "FLAG", "WEIGHT"):
        np.testing.assert_array_equal(
            read_column(tmp_path / "chunked.ms", column),
            read_column(tmp_path / "rewritten.ms", column),
        )


def test_unaligned_block_start_is_refused(sample):
    with SubbandReader(sample) as reader, pytest.raises(ValueError, match="chunk boundary"):
        reader.source("visdata", 100, 300)


def test_a_file_cut_short_is_refused_before_mapping(tmp_path, sample):
    from converter import InputValidationError

    copy = tmp_path / sample.name
    data = sample.read_bytes()
    with h5py.File(sample, "r") as handle:
        last = max(info.byte_offset for info in _chunks(handle["Data/visdata"]))
    copy.write_bytes(data[: last + 100])  # the superblock still opens; data are missing
    with pytest.raises((InputValidationError, OSError)):
        SubbandReader(copy)


def _chunks(dataset):
    found: list = []
    dataset.id.chunk_iter(found.append)
    return found


def test_a_chunk_index_listing_one_chunk_twice_is_refused(monkeypatch, sample):
    """As many chunks as the grid holds, but one of them listed twice (so another is
    missing): the file is corrupt, and the missing chunk must not be read from an
    offset nobody wrote."""
    from converter import InputValidationError
    from converter import reader as reader_module

    real = reader_module.chunk_records

    def one_listed_twice(dataset, expected):
        records = real(dataset, expected).copy()
        records[-1, [ROW, FREQ, POL]] = records[0, [ROW, FREQ, POL]]
        return records

    monkeypatch.setattr(reader_module, "chunk_records", one_listed_twice)
    with pytest.raises(InputValidationError, match="lists a chunk twice"):
        SubbandReader(sample)
