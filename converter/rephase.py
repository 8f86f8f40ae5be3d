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
by pyuvdata) reads each value once and writes it once, in MS order. Its shape comes from
measurements on a full dump, one thread, pages in memory (visibilities 1.26 → 0.84 s,
4.9 → 3.3 ns each, against a loop that looked every value up in a table; then, on the
slower machine of 2026-12-07, 6.5 → 5.8 and 7.3 → 6.4 ns each in two runs of
``benchmarks/rephase_kernel.py`` against a loop that went row by row, and the flags
3.6 → 2.0 and 3.4 → 2.1 ns each):

* runs, not tables: a chunk row holds a run of channels of each polarisation, so the
  loop walks channel runs, with both polarisations of a channel side by side in the
  correlator's layout, and writes the MS row run by run (no per-value index lookups);
* chunk by chunk: the block is done one row-chunk (128 rows) at a time, and in it
  each subband's chunks are read front to back, their rows one after the other, so a
  run's place in the source and in the MS block is one addition from the last one (no
  divisions per row) and the rows being filled (128 × 768 B per subband) stay in cache;
* the phasors of a row, ``exp(i k f₀) · exp(i k δf)^j`` (``k = 2π Δw / c``), are four
  interleaved running products in complex128 (error ~1e-14 after 48 channels), so the
  multiplications do not wait on each other; a row-chunk's are computed once for all
  of a subband's chunks.

It releases the GIL, and one call covers every subband of a block, so it runs
alongside casacore's writes with few hand-overs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from astropy import constants
from numba.core import types
from numba.extending import intrinsic

from converter.reader import BlockSource, ChunkGrid

TWO_PI_OVER_C = 2.0 * np.pi / constants.c.to_value("m/s")


@dataclass(frozen=True)
class Batch:
    """Subbands whose sources share one chunk grid, processed by one kernel call."""

    values: tuple[npt.NDArray[Any], ...]  # 1-D, one per subband (kept alive here)
    addresses: npt.NDArray[np.int64]  # (subbands,) where each of values starts
    lengths: npt.NDArray[np.int64]  # (subbands,) elements of each of values
    chunk_offsets: npt.NDArray[np.int64]  # (subbands, chunks)
    first_row_chunks: npt.NDArray[np.int64]  # (subbands,)
    grid: ChunkGrid
    descending: npt.NDArray[np.bool_]  # (subbands,) channels stored descending
    file_pols: npt.NDArray[np.int64]  # file polarisation of each MS polarisation
    first_channels: npt.NDArray[np.int64]  # (subbands,) MS channel of each subband's f₀
    n_freqs: int
    n_pols: int

    @classmethod
    def of(
        cls,
        sources: Sequence[BlockSource],
        first_channels: Sequence[int],
        descending: Sequence[bool],
        n_freqs: int,
        pol_map: Sequence[int],
    ) -> Batch:
        """``pol_map[p]`` is the MS position (CASA order) of file polarisation p."""
        values = tuple(s.values for s in sources)
        if len({v.dtype for v in values}) != 1 or not all(
            v.ndim == 1 and v.flags.c_contiguous for v in values
        ):
            raise ValueError("a batch's sources must be 1-D contiguous arrays of one dtype")
        return cls(
            values=values,
            addresses=np.array([v.ctypes.data for v in values], dtype=np.int64),
            lengths=np.array([v.size for v in values], dtype=np.int64),
            chunk_offsets=np.stack([s.chunk_offsets for s in sources]),
            first_row_chunks=np.array([s.first_row_chunk for s in sources], dtype=np.int64),
            grid=sources[0].grid,
            descending=np.asarray(descending, dtype=np.bool_),
            file_pols=np.array([list(pol_map).index(q) for q in range(len(pol_map))], np.int64),
            first_channels=np.asarray(first_channels, dtype=np.int64),
            n_freqs=n_freqs,
            n_pols=len(pol_map),
        )

    def at(self, first_row_chunk: int) -> Batch:
        """The same sources for a block that starts at another row-chunk."""
        return dataclasses.replace(
            self, first_row_chunks=np.full_like(self.first_row_chunks, first_row_chunk)
        )

    @property
    def chunks_are_full(self) -> bool:
        """No chunk runs past the dataset's channels or polarisations (no padding)."""
        _, cf, cp = self.grid.chunk
        return self.grid.grid[1] * cf == self.n_freqs and self.grid.grid[2] * cp == self.n_pols

    def _layout(self) -> tuple[Any, ...]:
        cr, cf, cp = self.grid.chunk
        return (
            self.addresses,
            self.lengths,
            # The values' dtype for the kernels' typing: a fresh array, so that a read-only
            # mapping and a writable buffer use the same compiled kernel.
            np.empty(0, self.values[0].dtype),
            self.chunk_offsets,
            self.first_row_chunks,
            cr,
            self.grid.chunks_per_row_chunk,
            cf,
            cp,
            self.grid.grid[2],
            self.file_pols,
            self.descending,
            self.first_channels * self.n_pols,
            self.n_freqs,
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
        n_rows,
    )


def gather_into(batch: Batch, out: npt.NDArray[Any], n_rows: int) -> None:
    """Copy flags or nsamples into ``out`` (the MS block), reordered like the data."""
    _gather_kernel(*batch._layout(), out.reshape(out.shape[0], -1), n_rows)


def differs(batch: Batch, n_rows: int, value: Any) -> bool:
    """Whether any of the batch's values in rows ``0..n_rows`` differs from ``value``.

    Flags are usually all False and nsamples all equal: a yes/no answer reads each value
    once, in file order (measured on one thread: 0.11 s for a dump's 256 MB of flags,
    against ~0.4 s to gather them into MS order; 0.22 s for its 1 GB of nsamples).
    Chunks that run past the dataset's channels or polarisations hold padding, so for
    those the answer is always yes.
    """
    if not batch.chunks_are_full:
        return True
    like = batch.values[0].dtype.type
    return bool(
        _differs_kernel(
            batch.addresses,
            batch.lengths,
            np.empty(0, batch.values[0].dtype),
            batch.chunk_offsets,
            batch.first_row_chunks,
            batch.grid.chunk[0],
            batch.grid.chunks_per_row_chunk,
            batch.grid.chunk_elements,
            n_rows,
            like(value),
        )
    )


def first_value(batch: Batch) -> Any:
    """The batch's first value: its first subband's first chunk's first element."""
    base = int(batch.first_row_chunks[0]) * batch.grid.chunks_per_row_chunk
    return batch.values[0][batch.chunk_offsets[0, base]]


def load_kernels() -> None:
    """Load the compiled kernels now, for the argument types a conversion uses.

    A process's first call of a kernel loads it from numba's on-disk cache (~0.3 s
    in all); a conversion does this in a background thread while its inputs are read.
    """
    grid = ChunkGrid(chunk=(1, 1, 1), grid=(1, 1, 1))
    offsets = np.zeros(1, dtype=np.int64)

    def batch(dtype: type) -> Batch:
        source = BlockSource(np.zeros(1, dtype), offsets, 0, grid)
        return Batch.of([source], [0], [False], 1, (0,)).at(0)

    visibilities = np.zeros((1, 1), np.complex64)
    rephase_into(batch(np.complex64), np.zeros(1), np.zeros(1), 1.0, visibilities, 1)
    for dtype, value in ((np.bool_, False), (np.float32, 1.0)):
        gather_into(batch(dtype), np.zeros((1, 1), dtype), 1)
        differs(batch(dtype), 1, value)


# The re-phasing and gathering kernels walk the chunks the same way: one row-chunk of
# the block at a time and, in it, one subband at a time, chunk after chunk, each chunk
# read front to back (its rows one after the other, a row holding ``cf`` channels × ``cp``
# file polarisations, channel-major). Chunk (fc, pc) of a row-chunk holds channels
# fc*cf .. fc*cf+cf-1 of file polarisations pc*cp .. pc*cp+cp-1. Channel c of run fc is
# MS channel ``j0 + c * dj``. The MS block is addressed flat: MS polarisation q of
# channel j of block row r is ``r * row_width + out_first[s] + j * n_pols + q``.
# The walk is written out in each kernel: a walker taking the per-value work as a
# function argument is never loaded from numba's on-disk cache (checked with numba
# 0.62: a cache miss and ~1 s of compiling in every process).


@intrinsic
def _pointer(typingctx: Any, address: Any, like: Any) -> Any:  # pragma: no cover - compiled
    """``address`` as a pointer to values of ``like``'s dtype.

    The kernels take their sources (one mapped file per subband) as addresses, not as a
    numba typed List: a typed List's methods are compiled again in every process
    (~0.9 s per conversion in a fresh process, numba issue #5713), and reflected lists
    are deprecated. The Batch keeps the arrays alive while a kernel runs.
    """
    pointer = types.CPointer(like.dtype)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(pointer))

    return pointer(address, like), codegen


@numba.njit(nogil=True, inline="always")
def _source(addresses: Any, lengths: Any, like: Any, s: int) -> Any:  # pragma: no cover
    """Subband ``s``'s values (its mapped file) as a 1-D array of ``like``'s dtype."""
    return numba.carray(_pointer(addresses[s], like), (lengths[s],))


@numba.njit(nogil=True, inline="always")
def _channel_run(
    fc: int, cf: int, n_freqs: int, descending: bool
) -> tuple[int, int, int]:  # pragma: no cover - compiled
    """``(j0, dj, count)`` of channel run ``fc``: its first MS channel, the step, and how
    many channels it holds."""
    j0 = n_freqs - 1 - fc * cf if descending else fc * cf
    return j0, (-1 if descending else 1), min(cf, n_freqs - fc * cf)


@numba.njit(nogil=True, inline="always")
def _pol_start(
    offsets: Any, base: int, fc: int, n_pc: int, cp: int, fp: int
) -> int:  # pragma: no cover - compiled
    """Where file polarisation ``fp``'s values of channel run ``fc`` begin (first row)."""
    return offsets[base + fc * n_pc + fp // cp] + fp % cp


@numba.njit(nogil=True, inline="always")
def _pair_starts(
    offsets: Any, base: int, fc: int, n_pc: int, file_pols: Any
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Where MS polarisations 0 and 1 of channel run ``fc`` begin (first row), in the
    correlator's layout: two polarisations, one per chunk."""
    return offsets[base + fc * n_pc + file_pols[0]], offsets[base + fc * n_pc + file_pols[1]]


@numba.njit(nogil=True, inline="always")
def _fill_phasors(
    phasors: Any, k: float, lowest: float, width_hz: float
) -> None:  # pragma: no cover - compiled
    """``phasors[j] = exp(i k (lowest + j width))``: four interleaved running products."""
    n = phasors.size
    step = np.exp(1j * k * width_hz)
    p0 = np.exp(1j * k * lowest)
    p1 = p0 * step
    p2 = p1 * step
    p3 = p2 * step
    step4 = (step * step) * (step * step)
    for j in range(0, n - 3, 4):
        phasors[j] = np.complex64(p0)
        phasors[j + 1] = np.complex64(p1)
        phasors[j + 2] = np.complex64(p2)
        phasors[j + 3] = np.complex64(p3)
        p0 *= step4
        p1 *= step4
        p2 *= step4
        p3 *= step4
    for j in range(n - n % 4, n):
        phasors[j] = np.complex64(np.exp(1j * k * (lowest + j * width_hz)))


@numba.njit(nogil=True, cache=True)
def _rephase_kernel(
    addresses: Any,
    lengths: Any,
    like: Any,
    chunk_offsets: Any,
    first_row_chunks: Any,
    chunk_rows: int,
    per_row_chunk: int,
    cf: int,
    cp: int,
    n_pc: int,
    file_pols: Any,
    descending: Any,
    out_first: Any,
    n_freqs: int,
    lowest: Any,
    k: Any,
    width_hz: float,
    out: Any,
    n_rows: int,
) -> None:  # pragma: no cover - compiled
    n_pols = file_pols.size
    n_fc = -(-n_freqs // cf)
    row_len = cf * cp
    row_width = out.shape[1]
    flat = out.reshape(-1)
    # The phasors of a row-chunk's rows for one subband, computed once for its chunks.
    phasors = np.empty((min(chunk_rows, n_rows), n_freqs), dtype=np.complex64)
    ph = phasors.reshape(-1)
    for rc in range(-(-n_rows // chunk_rows)):
        r0 = rc * chunk_rows
        nr = min(chunk_rows, n_rows - r0)
        for s in range(addresses.size):
            source = _source(addresses, lengths, like, s)
            offsets = chunk_offsets[s]
            base = (first_row_chunks[s] + rc) * per_row_chunk
            for r in range(nr):
                _fill_phasors(phasors[r], k[r0 + r], lowest[s], width_hz)
            for fc in range(n_fc):
                j0, dj, count = _channel_run(fc, cf, n_freqs, descending[s])
                if n_pols == 2 and cp == 1:
                    # The correlator's layout: both polarisations of a channel written
                    # side by side, from their two chunks, with one phasor load.
                    a0, a1 = _pair_starts(offsets, base, fc, n_pc, file_pols)
                    for r in range(nr):
                        o = (r0 + r) * row_width + out_first[s]
                        a = r * row_len
                        for c in range(count):
                            j = j0 + c * dj
                            factor = ph[r * n_freqs + j]
                            flat[o + 2 * j] = np.conj(source[a0 + a + c]) * factor
                            flat[o + 2 * j + 1] = np.conj(source[a1 + a + c]) * factor
                    continue
                for q in range(n_pols):
                    a0 = _pol_start(offsets, base, fc, n_pc, cp, file_pols[q])
                    for r in range(nr):
                        o = (r0 + r) * row_width + out_first[s] + q
                        a = a0 + r * row_len
                        p = r * n_freqs
                        for c in range(count):
                            j = j0 + c * dj
                            flat[o + j * n_pols] = np.conj(source[a + c * cp]) * ph[p + j]


@numba.njit(nogil=True, cache=True)
def _gather_kernel(
    addresses: Any,
    lengths: Any,
    like: Any,
    chunk_offsets: Any,
    first_row_chunks: Any,
    chunk_rows: int,
    per_row_chunk: int,
    cf: int,
    cp: int,
    n_pc: int,
    file_pols: Any,
    descending: Any,
    out_first: Any,
    n_freqs: int,
    out: Any,
    n_rows: int,
) -> None:  # pragma: no cover - compiled
    n_pols = file_pols.size
    n_fc = -(-n_freqs // cf)
    row_len = cf * cp
    row_width = out.shape[1]
    flat = out.reshape(-1)
    for rc in range(-(-n_rows // chunk_rows)):
        r0 = rc * chunk_rows
        nr = min(chunk_rows, n_rows - r0)
        for s in range(addresses.size):
            source = _source(addresses, lengths, like, s)
            offsets = chunk_offsets[s]
            base = (first_row_chunks[s] + rc) * per_row_chunk
            for fc in range(n_fc):
                j0, dj, count = _channel_run(fc, cf, n_freqs, descending[s])
                if n_pols == 2 and cp == 1:
                    a0, a1 = _pair_starts(offsets, base, fc, n_pc, file_pols)
                    for r in range(nr):
                        o = (r0 + r) * row_width + out_first[s]
                        a = r * row_len
                        for c in range(count):
                            j = j0 + c * dj
                            flat[o + 2 * j] = source[a0 + a + c]
                            flat[o + 2 * j + 1] = source[a1 + a + c]
                    continue
                for q in range(n_pols):
                    a0 = _pol_start(offsets, base, fc, n_pc, cp, file_pols[q])
                    for r in range(nr):
                        o = (r0 + r) * row_width + out_first[s] + q
                        a = a0 + r * row_len
                        for c in range(count):
                            flat[o + (j0 + c * dj) * n_pols] = source[a + c * cp]


@numba.njit(nogil=True, cache=True)
def _differs_kernel(
    addresses: Any,
    lengths: Any,
    like: Any,
    chunk_offsets: Any,
    first_row_chunks: Any,
    chunk_rows: int,
    per_row_chunk: int,
    chunk_elements: int,
    n_rows: int,
    value: Any,
) -> bool:  # pragma: no cover - compiled
    # A chunk holds its rows one after the other, so the block's rows of a chunk are
    # one contiguous run (shorter in the dataset's last, partial row-chunk).
    row_elements = chunk_elements // chunk_rows
    for s in range(addresses.size):
        source = _source(addresses, lengths, like, s)
        offsets = chunk_offsets[s]
        for rc in range(-(-n_rows // chunk_rows)):
            count = min(chunk_rows, n_rows - rc * chunk_rows) * row_elements
            base = (first_row_chunks[s] + rc) * per_row_chunk
            for g in range(per_row_chunk):
                start = offsets[base + g]
                found = False
                for i in range(start, start + count):
                    found |= source[i] != value
                if found:
                    return True
    return False
