"""Read blocks of rows (visdata, flags, nsamples) from a subband file, fast.

The correlator creates its datasets resizable with h5py's automatic chunking, which for
(Nblts, 1, 48, 2) complex64 gives 12 KB chunks of (128, 1, 12, 1): ~18,000 chunks per
file. HDF5 spends ~25 µs on each chunk it reads (measured: 0.25–0.35 s per visdata
dataset with the page cache warm, ~6 s per dump), more than the whole disk budget of a
conversion. So this module asks HDF5 (through h5py) only *where* the chunks are
(``chunk_iter``, ~3 µs per chunk, once per file) and reads their bytes itself with
``os.preadv``, one system call per run of chunks that are adjacent both in the chunk
grid and in the file (the correlator appends whole integrations, so runs are long),
without holding the GIL. The bytes land in a :class:`StagedRows` buffer in the file's
own chunk order; :mod:`converter.rephase` rearranges them into MS order in the same
pass that re-phases them, so the data are copied once.

Only the plain layouts the correlator writes take this path: unfiltered chunked or
contiguous datasets of the native types. Anything else (compression, other dtypes) is
read through h5py, slower but correct.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from converter.errors import InputValidationError

#: Datasets read per row, and their dtypes in memory.
DATASETS: dict[str, np.dtype[Any]] = {
    "visdata": np.dtype(np.complex64),
    "flags": np.dtype(np.bool_),
    "nsamples": np.dtype(np.float32),
}


@dataclass(frozen=True)
class ChunkGrid:
    """How a dataset is cut: chunk shape and number of chunks along (rows, freqs, pols).

    A contiguous dataset is one "chunk" as tall as the block being read.
    """

    chunk: tuple[int, int, int]
    grid: tuple[int, int, int]


@dataclass(frozen=True)
class ChunkRuns:
    """Chunks of one dataset as runs adjacent both in the chunk grid and in the file.

    ``grid_start[i]`` is the linear chunk-grid index (row-chunk major, C order) of the
    first chunk of run ``i``, ``length[i]`` its number of chunks and ``file_offset[i]``
    the byte offset of its first chunk.
    """

    chunk_bytes: int
    grid_start: npt.NDArray[np.int64]
    length: npt.NDArray[np.int64]
    file_offset: npt.NDArray[np.int64]


@dataclass(frozen=True)
class DatasetLayout:
    """Where one dataset's bytes live: contiguous at ``offset``, chunked in ``runs``,
    or neither (read through h5py)."""

    name: str
    shape: tuple[int, int, int]  # Nblts, Nfreqs, Npols
    dtype: np.dtype[Any]
    grid: ChunkGrid | None = None
    runs: ChunkRuns | None = None
    offset: int | None = None

    @property
    def row_alignment(self) -> int:
        """Block starts on multiples of this read whole chunks only."""
        return self.grid.chunk[0] if self.grid is not None else 1

    def staged_shape(self, rows: int) -> tuple[int, int, int, int, int, int]:
        """Shape of the staging buffer for a block of ``rows`` rows starting aligned."""
        if self.grid is None:
            return (1, 1, 1, rows, self.shape[1], self.shape[2])
        (cr, cf, cp), (_, n_fc, n_pc) = self.grid.chunk, self.grid.grid
        return (-(-rows // cr), n_fc, n_pc, cr, cf, cp)


@dataclass(frozen=True)
class StagedRows:
    """A block of one dataset's rows in the file's chunk order.

    ``array`` is (row-chunks, freq-chunks, pol-chunks, chunk rows, chunk freqs, chunk
    pols); ``n_rows`` rows are valid, the rest of the last row-chunk is padding.
    """

    array: npt.NDArray[Any]
    n_rows: int
    n_freqs: int
    n_pols: int

    @property
    def padded_rows(self) -> int:
        return self.array.shape[0] * self.array.shape[3]

    def pieces(self) -> Iterator[tuple[int, int, npt.NDArray[Any]]]:
        """(pol, first channel, view (row-chunks, chunk rows, channels)) for each column
        of chunks: every (pol, channel) of the block appears in exactly one piece."""
        _, n_fc, n_pc, _, cf, cp = self.array.shape
        for pc in range(n_pc):
            for inner in range(cp):
                pol = pc * cp + inner
                if pol >= self.n_pols:
                    continue
                for fc in range(n_fc):
                    first = fc * cf
                    width = min(cf, self.n_freqs - first)
                    yield pol, first, self.array[:, fc, pc, :, :width, inner]


class SubbandReader:
    """An open subband file from which blocks of rows are read into staging buffers.

    Thread-compatible: one reader is used by one thread at a time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._h5: h5py.File | None = None
        self._fd = -1
        try:
            self._fd = os.open(path, os.O_RDONLY)
            with h5py.File(path, "r") as handle:
                self.layouts = {
                    name: _dataset_layout(path, handle["Data"][name], dtype)
                    for name, dtype in DATASETS.items()
                }
        except OSError as exc:
            self.close()
            raise InputValidationError(path, "Data", f"cannot read the datasets: {exc}") from exc
        except BaseException:
            self.close()
            raise
        if any(layout.runs is None and layout.offset is None for layout in self.layouts.values()):
            self._h5 = h5py.File(path, "r")
        # The kernel reads ahead more aggressively on a file declared sequential.
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

    @property
    def row_alignment(self) -> int:
        return math.lcm(*(layout.row_alignment for layout in self.layouts.values()))

    def staging_buffers(self, rows: int) -> dict[str, npt.NDArray[Any]]:
        """Buffers big enough for any block of up to ``rows`` rows (aligned start)."""
        return {
            name: np.empty(layout.staged_shape(rows), dtype=layout.dtype)
            for name, layout in self.layouts.items()
        }

    def read_rows(
        self, start: int, stop: int, buffers: dict[str, npt.NDArray[Any]]
    ) -> dict[str, StagedRows]:
        """Read rows ``start..stop`` of every dataset; ``start`` must be row-aligned."""
        if start % self.row_alignment:
            raise ValueError(f"block start {start} is not a multiple of {self.row_alignment}")
        staged = {}
        for name, layout in self.layouts.items():
            shape = layout.staged_shape(stop - start)
            target = buffers[name].reshape(-1)[: math.prod(shape)].reshape(shape)
            try:
                if layout.runs is not None:
                    self._read_chunked(layout.runs, layout, start, stop, target)
                elif layout.offset is not None:
                    self._read_contiguous(layout, start, stop, target)
                else:
                    self._read_h5py(layout, start, stop, target)
            except EOFError as exc:
                raise InputValidationError(
                    self.path, f"Data/{name}", f"rows {start}..{stop}: {exc}: truncated file?"
                ) from exc
            except OSError as exc:  # an I/O error may be transient: keep it an OSError
                raise OSError(exc.errno, f"reading {self.path}: {exc.strerror or exc}") from exc
            staged[name] = StagedRows(target, stop - start, layout.shape[1], layout.shape[2])
        return staged

    def _read_contiguous(
        self, layout: DatasetLayout, start: int, stop: int, target: npt.NDArray[Any]
    ) -> None:
        assert layout.offset is not None
        row_bytes = layout.shape[1] * layout.shape[2] * layout.dtype.itemsize
        _pread_exact(self._fd, target.data.cast("B"), layout.offset + start * row_bytes)

    def _read_chunked(
        self,
        runs: ChunkRuns,
        layout: DatasetLayout,
        start: int,
        stop: int,
        target: npt.NDArray[Any],
    ) -> None:
        assert layout.grid is not None
        (cr, _, _), (_, n_fc, n_pc) = layout.grid.chunk, layout.grid.grid
        per_row_chunk = n_fc * n_pc
        grid_lo = start // cr * per_row_chunk
        grid_hi = -(-stop // cr) * per_row_chunk
        staged = target.data.cast("B")
        # Runs overlapping [grid_lo, grid_hi), clipped to it.
        lo = int(np.searchsorted(runs.grid_start + runs.length, grid_lo, side="right"))
        hi = int(np.searchsorted(runs.grid_start, grid_hi, side="left"))
        for grid_start, length, offset in zip(
            runs.grid_start[lo:hi].tolist(),
            runs.length[lo:hi].tolist(),
            runs.file_offset[lo:hi].tolist(),
            strict=True,
        ):
            first = max(grid_start, grid_lo)
            last = min(grid_start + length, grid_hi)
            dest = (first - grid_lo) * runs.chunk_bytes
            size = (last - first) * runs.chunk_bytes
            source = offset + (first - grid_start) * runs.chunk_bytes
            _pread_exact(self._fd, staged[dest : dest + size], source)

    def _read_h5py(
        self, layout: DatasetLayout, start: int, stop: int, target: npt.NDArray[Any]
    ) -> None:
        assert self._h5 is not None
        values = self._h5["Data"][layout.name][start:stop]
        target[...] = values.reshape(target.shape)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> SubbandReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _dataset_layout(path: Path, dataset: h5py.Dataset, dtype: np.dtype[Any]) -> DatasetLayout:
    full = tuple(dataset.shape)
    shape = (full[0], full[-2], full[-1])
    name = dataset.name.rsplit("/", 1)[-1]
    plain = DatasetLayout(name=name, shape=shape, dtype=dtype)
    plist = dataset.id.get_create_plist()
    native = dataset.id.get_type() == h5py.h5t.py_create(dtype, logical=True)
    if not native or plist.get_nfilters() != 0:
        return plain
    layout = plist.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()
        if offset is None:  # never written: no bytes at all
            raise InputValidationError(path, f"Data/{name}", "no data was ever written")
        return DatasetLayout(name, shape, dtype, offset=int(offset))
    if layout != h5py.h5d.CHUNKED:
        return plain
    chunks = tuple(dataset.chunks)
    if len(chunks) == 4 and chunks[1] != full[1]:
        return plain
    grid = ChunkGrid(
        chunk=(chunks[0], chunks[-2], chunks[-1]),
        grid=(-(-shape[0] // chunks[0]), -(-shape[1] // chunks[-2]), -(-shape[2] // chunks[-1])),
    )
    return DatasetLayout(name, shape, dtype, grid=grid, runs=_chunk_runs(path, dataset, grid))


def _chunk_runs(path: Path, dataset: h5py.Dataset, grid: ChunkGrid) -> ChunkRuns:
    chunk_bytes = math.prod(dataset.chunks) * dataset.dtype.itemsize
    logical: list[tuple[int, ...]] = []
    offsets: list[int] = []
    sizes: set[int] = set()

    def visit(info: Any) -> None:
        logical.append(info.chunk_offset)
        offsets.append(info.byte_offset)
        sizes.add(info.size)

    dataset.id.chunk_iter(visit)
    name = f"Data/{dataset.name.rsplit('/', 1)[-1]}"
    if sizes - {chunk_bytes}:
        raise InputValidationError(
            path, name, f"chunks of {sorted(sizes)} bytes, expected {chunk_bytes}"
        )
    expected = math.prod(grid.grid)
    if len(offsets) != expected:
        raise InputValidationError(
            path, name, f"{expected - len(offsets)} of {expected} chunks were never written"
        )
    coords = np.asarray(logical, dtype=np.int64)
    index = np.ravel_multi_index(
        (
            coords[:, 0] // grid.chunk[0],
            coords[:, -2] // grid.chunk[1],
            coords[:, -1] // grid.chunk[2],
        ),
        grid.grid,
    )
    order = np.argsort(index)
    index, file_offset = index[order], np.asarray(offsets, dtype=np.int64)[order]
    breaks = np.flatnonzero((np.diff(index) != 1) | (np.diff(file_offset) != chunk_bytes)) + 1
    starts = np.concatenate([[0], breaks])
    lengths = np.diff(np.concatenate([starts, [index.size]]))
    return ChunkRuns(
        chunk_bytes=chunk_bytes,
        grid_start=index[starts],
        length=lengths,
        file_offset=file_offset[starts],
    )


def _pread_exact(fd: int, buffer: memoryview, offset: int) -> None:
    """Read exactly ``len(buffer)`` bytes at ``offset`` (``preadv`` releases the GIL)."""
    done = 0
    while done < len(buffer):
        got = os.preadv(fd, [buffer[done:]], offset + done)
        if got == 0:
            raise EOFError(f"the file ends at byte {offset + done}")
        done += got
