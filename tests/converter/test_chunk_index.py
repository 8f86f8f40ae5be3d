"""The chunk index as listed by HDF5's iterator through the compiled callback."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from converter.chunk_index import ADDRESS, FREQ, POL, ROW, SIZE, ChunkIndexError, chunk_records
from converter.reader import DATASETS
from simulator import SimulationResult


@pytest.fixture(scope="module")
def sample(meridian_dump: SimulationResult):
    return meridian_dump.dumps[0].files[5]


def _h5py_listing(dataset: h5py.Dataset) -> list[tuple[int, int, int, int, int]]:
    found: list = []
    dataset.id.chunk_iter(found.append)
    return [
        (
            info.chunk_offset[0],
            info.chunk_offset[-2],
            info.chunk_offset[-1],
            info.byte_offset,
            info.size,
        )
        for info in found
    ]


@pytest.mark.parametrize("name", list(DATASETS))
def test_same_chunks_as_h5py_lists(sample, name):
    with h5py.File(sample, "r") as handle:
        dataset = handle["Data"][name]
        expected = _h5py_listing(dataset)
        records = chunk_records(dataset, len(expected))
    assert len(expected) > 1
    assert records.shape == (len(expected), 5)
    listed = [
        (int(r[ROW]), int(r[FREQ]), int(r[POL]), int(r[ADDRESS]), int(r[SIZE])) for r in records
    ]
    assert listed == expected


def test_more_chunks_than_expected_is_an_error_not_an_overrun(sample):
    with h5py.File(sample, "r") as handle:
        dataset = handle["Data"]["visdata"]
        total = len(_h5py_listing(dataset))
        with pytest.raises(ChunkIndexError, match=f"at most {total - 1} expected"):
            chunk_records(dataset, total - 1)
        # h5py still works after HDF5 reported the failure.
        assert np.asarray(dataset[:2]).shape[0] == 2


def test_chunks_never_written_are_absent(tmp_path):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as handle:
        dataset = handle.create_dataset("d", shape=(8, 1, 4, 2), chunks=(2, 1, 2, 1), dtype="f4")
        dataset[2:4, :, 2:4, 1] = 1.0  # one chunk
    with h5py.File(path, "r") as handle:
        records = chunk_records(handle["d"], 16)
    assert records.shape == (1, 5)
    assert (records[0, ROW], records[0, FREQ], records[0, POL]) == (2, 2, 1)
    assert records[0, SIZE] == 2 * 2 * 4
