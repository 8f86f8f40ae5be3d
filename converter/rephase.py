"""Turn the subbands' rows of one block into the MS block: re-phase, reorder, conjugate.

For every row and channel the MS holds ``conj(V · exp(−2πi Δw f / c))``: the
visibility re-phased from the meridian to the new centre (pyuvdata's sign convention,
see :mod:`converter.astrometry`), then conjugated because CASA's baseline convention is
the opposite of UVH5's (pyuvdata's ``write_ms`` does the same: ``flip_conj``). Channels
are reversed where the file stores them descending, and polarisations put in CASA order.

The values come straight from the memory-mapped files (:mod:`converter.reader`), in the
correlator's chunk order (12 channels × 1 polarisation × 128 rows per chunk), and go to
a block of MS rows (768 channels × 2 pols each). With numpy that rearrangement costs ~20
strided passes with 12-element inner loops per subband (measured 4–6 ns per
visibility, most of a conversion's CPU); here one compiled loop (numba, already required
by pyuvdata) reads each value once and writes it once, in MS order, through a table of
offsets (:class:`GatherTable`). It releases the GIL, and one call covers every subband
of a block, so it runs alongside casacore's writes with few hand-overs. The phasor of a
row advances channel by channel as a running product ``exp(i k f₀) · exp(i k δf)^j``
in complex128 (``k = 2π Δw / c``; error ~1e-14 after 48 channels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from astropy import constants

from converter.reader import BlockSource, ChunkGrid

TWO_PI_OVER_C = 2.0 * np.pi / constants.c.to_value("m/s")


@dataclass(frozen=True)
class GatherTable:
    """For each MS value of a row (channel j ascending, pol q in MS order: index
    ``j * n_pols + q``), which chunk of the row-chunk holds it (``chunk``) and where in
    that chunk's row (``inner``)."""

    chunk: npt.NDArray[np.int64]
    inner: npt.NDArray[np.int64]

    @classmethod
    def build(
        cls, grid: ChunkGrid, n_freqs: int, n_pols: int, *, descending: bool, pol_map: Sequence[int]
    ) -> GatherTable:
        _, cf, cp = grid.chunk
        n_pc = grid.grid[2]
        file_pol = {ms: file for file, ms in enumerate(pol_map)}
        chunk = np.empty(n_freqs * n_pols, dtype=np.int64)
        inner = np.empty(n_freqs * n_pols, dtype=np.int64)
        for j in range(n_freqs):
            fc, c = divmod(n_freqs - 1 - j if descending else j, cf)
            for q in range(n_pols):
                pc, ci = divmod(file_pol[q], cp)
                chunk[j * n_pols + q] = fc * n_pc + pc
                inner[j * n_pols + q] = c * cp + ci
        return cls(chunk=chunk, inner=inner)


@dataclass(frozen=True)
class Batch:
    """Subbands whose sources share one chunk grid, processed by one kernel call."""

    values: Any  # numba typed List of 1-D arrays, one per subband
    chunk_offsets: npt.NDArray[np.int64]  # (subbands, chunks)
    first_row_chunks: npt.NDArray[np.int64]  # (subbands,)
    grid: ChunkGrid
    table_chunk: npt.NDArray[np.int64]  # (subbands, n_freqs * n_pols)
    table_inner: npt.NDArray[np.int64]
    first_channels: npt.NDArray[np.int64]  # (subbands,) MS channel of each subband's f₀
    n_freqs: int
    n_pols: int

    @classmethod
    def of(
        cls,
        sources: Sequence[BlockSource],
        tables: Sequence[GatherTable],
        first_channels: Sequence[int],
        n_freqs: int,
        n_pols: int,
    ) -> Batch:
        return cls(
            values=numba.typed.List([s.values for s in sources]),
            chunk_offsets=np.stack([s.chunk_offsets for s in sources]),
            first_row_chunks=np.array([s.first_row_chunk for s in sources], dtype=np.int64),
            grid=sources[0].grid,
            table_chunk=np.stack([t.chunk for t in tables]),
            table_inner=np.stack([t.inner for t in tables]),
            first_channels=np.asarray(first_channels, dtype=np.int64),
            n_freqs=n_freqs,
            n_pols=n_pols,
        )

    def at(self, first_row_chunk: int) -> Batch:
        """The same sources for a block that starts at another row-chunk."""
        starts = np.full_like(self.first_row_chunks, first_row_chunk)
        return Batch(
            self.values,
            self.chunk_offsets,
            starts,
            self.grid,
            self.table_chunk,
            self.table_inner,
            self.first_channels,
            self.n_freqs,
            self.n_pols,
        )

    def _layout(self) -> tuple[Any, ...]:
        cr, cf, cp = self.grid.chunk
        return (
            self.values,
            self.chunk_offsets,
            self.first_row_chunks,
            cr,
            self.grid.chunks_per_row_chunk,
            cf * cp,
            self.table_chunk,
            self.table_inner,
            self.first_channels * self.n_pols,
        )


def rephase_into(
    batch: Batch,
    lowest_freqs_hz: npt.NDArray[np.float64],
    k_rad_per_hz: npt.NDArray[np.float64],
    channel_width_hz: float,
    out: npt.NDArray[np.complex64],
    n_rows: int,
) -> None:
    """Fill rows ``0..n_rows`` of each subband's channels of ``out`` (the MS block,
    C-contiguous) with ``conj(V) · exp(i k_r (f₀ + j δf))``.

    ``lowest_freqs_hz[i]`` is f₀ of the batch's subband i; ``k_rad_per_hz[r]`` is
    ``2π Δw / c`` of the block's row r.
    """
    _rephase_kernel(
        *batch._layout(),
        lowest_freqs_hz,
        k_rad_per_hz,
        channel_width_hz,
        out.reshape(out.shape[0], -1),
        batch.n_freqs,
        batch.n_pols,
        n_rows,
    )


def gather_into(batch: Batch, out: npt.NDArray[Any], n_rows: int) -> None:
    """Copy flags or nsamples into ``out`` (the MS block), reordered like the data."""
    _gather_kernel(*batch._layout(), out.reshape(out.shape[0], -1), n_rows)


def extremes(batch: Batch, n_rows: int) -> tuple[float, float]:
    """Smallest and largest value over the batch's rows (nsamples: usually all equal)."""
    low, high = _extremes_kernel(*batch._layout(), n_rows)
    return float(low), float(high)


@numba.njit(nogil=True, cache=True)
def _rephase_kernel(
    values: Any,
    chunk_offsets: Any,
    first_row_chunks: Any,
    chunk_rows: int,
    per_row_chunk: int,
    row_elements: int,
    table_chunk: Any,
    table_inner: Any,
    out_first: Any,
    lowest: Any,
    k: Any,
    width_hz: float,
    out: Any,
    n_freqs: int,
    n_pols: int,
    n_rows: int,
) -> None:  # pragma: no cover - compiled
    for s in range(len(values)):
        source = values[s]
        offsets = chunk_offsets[s]
        chunks = table_chunk[s]
        inner = table_inner[s]
        first = out_first[s]
        for row in range(n_rows):
            base = (first_row_chunks[s] + row // chunk_rows) * per_row_chunk
            within = (row % chunk_rows) * row_elements
            phasor = np.exp(1j * k[row] * lowest[s])
            step = np.exp(1j * k[row] * width_hz)
            target = out[row]
            m = 0
            for _ in range(n_freqs):
                factor = np.complex64(phasor)
                for _ in range(n_pols):
                    value = source[offsets[base + chunks[m]] + within + inner[m]]
                    target[first + m] = np.conj(value) * factor
                    m += 1
                phasor *= step


@numba.njit(nogil=True, cache=True)
def _gather_kernel(
    values: Any,
    chunk_offsets: Any,
    first_row_chunks: Any,
    chunk_rows: int,
    per_row_chunk: int,
    row_elements: int,
    table_chunk: Any,
    table_inner: Any,
    out_first: Any,
    out: Any,
    n_rows: int,
) -> None:  # pragma: no cover - compiled
    width = table_chunk.shape[1]
    for s in range(len(values)):
        source = values[s]
        offsets = chunk_offsets[s]
        chunks = table_chunk[s]
        inner = table_inner[s]
        first = out_first[s]
        for row in range(n_rows):
            base = (first_row_chunks[s] + row // chunk_rows) * per_row_chunk
            within = (row % chunk_rows) * row_elements
            target = out[row]
            for m in range(width):
                target[first + m] = source[offsets[base + chunks[m]] + within + inner[m]]


@numba.njit(nogil=True, cache=True)
def _extremes_kernel(
    values: Any,
    chunk_offsets: Any,
    first_row_chunks: Any,
    chunk_rows: int,
    per_row_chunk: int,
    row_elements: int,
    table_chunk: Any,
    table_inner: Any,
    out_first: Any,
    n_rows: int,
) -> tuple[float, float]:  # pragma: no cover - compiled
    low = np.inf
    high = -np.inf
    width = table_chunk.shape[1]
    for s in range(len(values)):
        source = values[s]
        offsets = chunk_offsets[s]
        chunks = table_chunk[s]
        inner = table_inner[s]
        for row in range(n_rows):
            base = (first_row_chunks[s] + row // chunk_rows) * per_row_chunk
            within = (row % chunk_rows) * row_elements
            for m in range(width):
                value = source[offsets[base + chunks[m]] + within + inner[m]]
                low = min(low, value)
                high = max(high, value)
    return low, high
