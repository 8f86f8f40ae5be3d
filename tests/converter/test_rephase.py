"""The block kernels against plain numpy, for chunk layouts and polarisation counts the
simulator does not write (1 and 4 polarisations, chunks holding several polarisations,
channel counts that do not fill the last chunk, both channel orders, several subbands)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from converter.reader import BlockSource, ChunkGrid
from converter.rephase import Batch, differs, first_value, gather_into, rephase_into


def chunked(values: np.ndarray, chunk: tuple[int, int, int]) -> BlockSource:
    """``values`` (rows, freqs, pols) stored as HDF5 stores a chunked dataset: whole
    chunks (edge chunks padded with garbage) in a shuffled order, located by offsets."""
    rng = np.random.default_rng(7)
    grid = tuple(-(-n // c) for n, c in zip(values.shape, chunk, strict=True))
    order = rng.permutation(math.prod(grid))
    storage = np.full(math.prod(grid) * math.prod(chunk), 999, dtype=values.dtype)
    offsets = np.empty(math.prod(grid), dtype=np.int64)
    for g, (r, f, p) in enumerate(np.ndindex(*grid)):
        piece = np.full(chunk, 999, dtype=values.dtype)
        part = values[
            r * chunk[0] : (r + 1) * chunk[0],
            f * chunk[1] : (f + 1) * chunk[1],
            p * chunk[2] : (p + 1) * chunk[2],
        ]
        piece[: part.shape[0], : part.shape[1], : part.shape[2]] = part
        offsets[g] = order[g] * math.prod(chunk)
        storage[offsets[g] : offsets[g] + piece.size] = piece.ravel()
    return BlockSource(storage, offsets, 0, ChunkGrid(chunk=chunk, grid=grid))


@pytest.mark.parametrize(
    ("n_pols", "chunk", "pol_map"),
    [
        (2, (16, 12, 1), (0, 1)),  # the correlator's layout
        (2, (16, 5, 2), (1, 0)),  # both polarisations in a chunk, swapped into CASA order
        (4, (8, 7, 3), (0, 3, 1, 2)),  # XX XY YX YY stored as XX YY XY YX, say
        (1, (32, 48, 1), (0,)),
    ],
)
@pytest.mark.parametrize("descending", [True, False])
def test_kernels_match_numpy(n_pols, chunk, pol_map, descending):
    rng = np.random.default_rng(1)
    n_rows, n_freqs, n_subbands = 272, 23, 3  # the last 32-row chunk is partial
    width, lowest = 2.5e5, np.array([1.40e9, 1.41e9, 1.42e9])
    k = rng.uniform(-2e-7, 2e-7, n_rows)
    vis = [
        (rng.standard_normal((n_rows, n_freqs, n_pols))
         + 1j * rng.standard_normal((n_rows, n_freqs, n_pols))).astype(np.complex64)
        for _ in range(n_subbands)
    ]
    flags = [rng.random((n_rows, n_freqs, n_pols)) < 0.3 for _ in range(n_subbands)]
    samples = [rng.uniform(0.5, 2.0, (n_rows, n_freqs, n_pols)).astype(np.float32)
               for _ in range(n_subbands)]
    firsts = [n_freqs * (n_subbands - 1 - i) for i in range(n_subbands)]  # sb0 highest

    def batch(per_subband: list[np.ndarray]) -> Batch:
        stored = [v[:, ::-1] if descending else v for v in per_subband]
        sources = [chunked(v, chunk) for v in stored]
        return Batch.of(sources, firsts, [descending] * n_subbands, n_freqs, pol_map)

    shape = (n_rows, n_freqs * n_subbands, n_pols)
    data, flag_out = np.zeros(shape, np.complex64), np.zeros(shape, bool)
    rephase_into(batch(vis), lowest, k, width, data, n_rows)
    gather_into(batch(flags), flag_out, n_rows)

    ms_pol = np.argsort(pol_map)  # the file polarisation at each MS position
    freqs = lowest[:, None] + width * np.arange(n_freqs)
    for i, first in enumerate(firsts):
        channels = slice(first, first + n_freqs)
        phasor = np.exp(1j * k[:, None] * freqs[i])[:, :, None]
        expected = np.conj(vis[i][:, :, ms_pol]) * phasor
        np.testing.assert_allclose(data[:, channels], expected, rtol=2e-6, atol=2e-6)
        np.testing.assert_array_equal(flag_out[:, channels], flags[i][:, :, ms_pol])
    # These chunks run past the channels (23 channels): their padding is unknown, so the
    # values always "differ" and the caller takes the gathering path.
    assert not batch(samples).chunks_are_full
    assert differs(batch([np.ones_like(s) for s in samples]), n_rows, 1.0)


@pytest.mark.parametrize("chunk", [(16, 12, 1), (16, 6, 2), (1, 24, 2)])
def test_differs_reads_only_the_blocks_rows(chunk):
    """Full chunks: the answer covers exactly the block's rows, not the padding of the
    dataset's last row-chunk or rows outside the block."""
    n_rows, n_freqs, n_pols, n_subbands = 5 * 16 + 9, 24, 2, 3  # last row-chunk partial

    def batch(per_subband: list[np.ndarray], first_row_chunk: int = 0) -> Batch:
        sources = [chunked(v, chunk) for v in per_subband]
        made = Batch.of(sources, [0, 24, 48], [True] * n_subbands, n_freqs, (0, 1))
        return made.at(first_row_chunk)

    flags = [np.zeros((n_rows, n_freqs, n_pols), bool) for _ in range(n_subbands)]
    assert batch(flags).chunks_are_full
    assert not differs(batch(flags), n_rows, False)  # the padding (999) is not read
    flags[2][n_rows - 1, 23, 1] = True  # the last value of the last subband
    assert differs(batch(flags), n_rows, False)
    assert not differs(batch(flags), n_rows - 1, False)  # rows of the block only
    flags[2][n_rows - 1] = False
    flags[1][3, 0, 0] = True
    rows_per_chunk = chunk[0]
    later = -(-4 // rows_per_chunk)  # a block starting after row 3
    assert differs(batch(flags), n_rows, False)
    assert not differs(batch(flags, later), n_rows - later * rows_per_chunk, False)

    samples = [np.full((n_rows, n_freqs, n_pols), 2.0, np.float32) for _ in range(n_subbands)]
    assert first_value(batch(samples)) == 2.0
    assert not differs(batch(samples), n_rows, 2.0)
    assert differs(batch(samples), n_rows, 1.0)
    samples[0][40, 5, 0] = 3.0
    assert differs(batch(samples), n_rows, 2.0)
    samples[0][:] = 4.0
    assert first_value(batch(samples, 2)) == 4.0


def test_preloading_loads_the_kernels_a_conversion_calls(tmp_path, meridian_dump):
    """A conversion's kernels are the ones ``load_kernels`` loaded in its background
    thread: no further compilation or cache load on the critical path (fresh process)."""
    import json
    import subprocess
    import sys

    from tests.converter.conftest import dump_files

    script = """
import json, sys
from pathlib import Path
from converter import convert_group
from converter.rephase import load_kernels, _rephase_kernel, _gather_kernel, _differs_kernel
kernels = (_rephase_kernel, _gather_kernel, _differs_kernel)
load_kernels()
before = [[str(s) for s in k.signatures] for k in kernels]
convert_group([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]))
after = [[str(s) for s in k.signatures] for k in kernels]
print(json.dumps({"before": before, "after": after}))
"""
    files = [str(f) for f in dump_files(meridian_dump)]
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out.ms"), *files],
        capture_output=True,
        text=True,
        check=True,
    )
    signatures = json.loads(done.stdout.strip().splitlines()[-1])
    # gather: flags, nsamples; differs: flags, nsamples
    assert [len(s) for s in signatures["before"]] == [1, 2, 2]
    assert signatures["after"] == signatures["before"]


def test_a_batch_takes_sources_of_one_dtype_only():
    """The kernels see the sources as bare addresses of one element type."""
    grid = ChunkGrid(chunk=(1, 1, 1), grid=(1, 1, 1))
    offsets = np.zeros(1, dtype=np.int64)
    mixed = [
        BlockSource(np.zeros(1, np.complex64), offsets, 0, grid),
        BlockSource(np.zeros(1, np.float32), offsets, 0, grid),
    ]
    with pytest.raises(ValueError, match="one dtype"):
        Batch.of(mixed, [0, 1], [False, False], 1, (0,))
    strided = BlockSource(np.zeros(4, np.complex64)[::2], offsets, 0, grid)
    with pytest.raises(ValueError, match="contiguous"):
        Batch.of([strided], [0], [False], 1, (0,))
