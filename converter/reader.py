"""Where a subband file's visibilities, flags and nsamples are, and how to reach them.

The correlator creates its datasets resizable with h5py's automatic chunking, which for
(Nblts, 1, 48, 2) complex64 gives 12 KB chunks of (128, 1, 12, 1): ~18,000 chunks per
file. HDF5 spends ~25 µs on each chunk it reads (measured: 0.25–0.35 s per visdata
dataset with the page cache warm, ~6 s per dump), more than a whole conversion may
take. So HDF5 is asked only *where* the chunks are (its chunk iterator, once per
file: :mod:`converter.chunk_index`), and the file is memory-mapped: the compiled kernels of
:mod:`converter.rephase` gather each value straight from the page cache into the MS
block, with no intermediate copy. The bytes are read from disk ahead of use by the
prefetcher (:mod:`converter.prefetch`, block by block) and released behind it
(``MADV_DONTNEED``: the pages leave this process's resident set, not the page cache),
so memory stays bounded by a couple of blocks.

Every dataset is described as a grid of chunks in chunk-grid order (row-chunk major); a
contiguous dataset is a grid of one-row chunks. Datasets that cannot be mapped
(filters such as compression, non-native types, chunks not aligned to the item size)
are read block by block through h5py into a staging buffer, slower but correct.

A file truncated *while* it is mapped would end the process with SIGBUS; the inputs
are complete files (the producer publishes only closed files) and every chunk is
checked to lie inside the file when it is opened. Where it would cost more than one
group, conversions run in a worker process: the consumer's pool, and ``convert-dir``'s
:mod:`converter.isolated`.
"""

from __future__ import annotations

import contextlib
import math
import mmap
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from converter.chunk_index import ADDRESS, FREQ, POL, ROW, SIZE, ChunkIndexError, chunk_records
from converter.errors import InputValidationError

#: Datasets read per row, and their dtypes in memory.
DATASETS: dict[str, np.dtype[Any]] = {
    "visdata": np.dtype(np.complex64),
    "flags": np.dtype(np.bool_),
    "nsamples": np.dtype(np.float32),
}


@dataclass(frozen=True)
class ChunkGrid:
    """A dataset cut into chunks of (rows, freqs, pols), counted along each axis."""

    chunk: tuple[int, int, int]
    grid: tuple[int, int, int]

    @classmethod
    def one_row_chunks(cls, n_rows: int, n_freqs: int, n_pols: int) -> ChunkGrid:
        """Rows laid out one after the other (contiguous data, or a staging buffer)."""
        return cls(chunk=(1, n_freqs, n_pols), grid=(n_rows, 1, 1))

    @property
    def chunks_per_row_chunk(self) -> int:
        return self.grid[1] * self.grid[2]

    @property
    def chunk_elements(self) -> int:
        return math.prod(self.chunk)


@dataclass(frozen=True)
class DatasetLayout:
    """One dataset: its shape, chunk grid and, when mappable, every chunk's position.

    ``chunk_offsets[g]`` is the *element* offset (bytes / itemsize) in the file of chunk
    g of the grid; ``None`` means the dataset is read through h5py.
    """

    name: str
    shape: tuple[int, int, int]  # Nblts, Nfreqs, Npols
    dtype: np.dtype[Any]
    grid: ChunkGrid
    chunk_offsets: npt.NDArray[np.int64] | None

    @property
    def mapped(self) -> bool:
        return self.chunk_offsets is not None

    @property
    def row_alignment(self) -> int:
        """Blocks starting at multiples of this begin on a chunk boundary."""
        return self.grid.chunk[0] if self.mapped else 1


@dataclass(frozen=True)
class BlockSource:
    """One dataset's values for rows ``start..stop`` of a block, ready for a kernel.

    ``values`` is a 1-D array (the mapped file, or a staging buffer); chunk g of the
    block's first row-chunk ``first_row_chunk`` starts at ``chunk_offsets[g]``.
    """

    values: npt.NDArray[Any]
    chunk_offsets: npt.NDArray[np.int64]
    first_row_chunk: int
    grid: ChunkGrid


class SubbandReader:
    """An open subband file: its dataset layouts, its mapping, its block sources.

    Thread-compatible: one reader is used by one thread at a time.
    """

    def __init__(self, path: Path, layouts: dict[str, DatasetLayout] | None = None) -> None:
        """Open ``path``; ``layouts`` as :func:`read_layouts` found them (read if None)."""
        self.path = path
        self._h5: h5py.File | None = None
        self._map: mmap.mmap | None = None
        self._views: dict[str, npt.NDArray[Any]] = {}
        self._staging: dict[str, npt.NDArray[Any]] = {}
        self.layouts = read_layouts(path) if layouts is None else layouts
        try:
            size = path.stat().st_size
            for layout in self.layouts.values():  # the file may have shrunk since the survey
                if layout.chunk_offsets is not None:
                    _check_inside(
                        path,
                        layout.name,
                        layout.chunk_offsets,
                        layout.grid.chunk_elements,
                        layout.dtype.itemsize,
                        size,
                    )
            if any(layout.mapped for layout in self.layouts.values()):
                with path.open("rb") as file:
                    self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                for name, layout in self.layouts.items():
                    if layout.mapped:
                        count = size // layout.dtype.itemsize
                        self._views[name] = np.frombuffer(self._map, layout.dtype, count)
            if not all(layout.mapped for layout in self.layouts.values()):
                self._h5 = h5py.File(path, "r")
        except OSError as exc:
            self.close()
            raise InputValidationError(path, "Data", f"cannot read the datasets: {exc}") from exc
        except BaseException:
            self.close()
            raise

    @property
    def row_alignment(self) -> int:
        return math.lcm(*(layout.row_alignment for layout in self.layouts.values()))

    def source(self, name: str, start: int, stop: int) -> BlockSource:
        """Where dataset ``name``'s rows start..stop are; ``start`` must be row-aligned."""
        layout = self.layouts[name]
        if layout.chunk_offsets is not None:
            if start % layout.grid.chunk[0]:
                raise ValueError(f"block start {start} is not on a chunk boundary")
            return BlockSource(
                self._views[name], layout.chunk_offsets, start // layout.grid.chunk[0], layout.grid
            )
        return self._staged(layout, start, stop)

    def done_with(self, start: int, stop: int) -> None:
        """Drop the mapped pages of rows start..stop from this process's resident set."""
        if self._map is None:
            return
        low, high = self.byte_range(start, stop)
        low -= low % mmap.PAGESIZE
        if high > low:
            self._map.madvise(mmap.MADV_DONTNEED, low, high - low)

    def byte_range(self, start: int, stop: int) -> tuple[int, int]:
        """The file bytes [low, high) that hold the mapped datasets' rows start..stop."""
        low, high = math.inf, 0
        for layout in self.layouts.values():
            if layout.chunk_offsets is None:
                continue
            grid = layout.grid
            per = grid.chunks_per_row_chunk
            chunks = layout.chunk_offsets[
                start // grid.chunk[0] * per : -(-stop // grid.chunk[0]) * per
            ]
            if chunks.size:
                itemsize = layout.dtype.itemsize
                low = min(low, int(chunks.min()) * itemsize)
                high = max(high, (int(chunks.max()) + grid.chunk_elements) * itemsize)
        return (int(low), high) if high else (0, 0)

    def _staged(self, layout: DatasetLayout, start: int, stop: int) -> BlockSource:
        """Rows through h5py into a reused buffer, described as one-row chunks."""
        assert self._h5 is not None
        n_freqs, n_pols = layout.shape[1], layout.shape[2]
        needed = (stop - start) * n_freqs * n_pols
        buffer = self._staging.get(layout.name)
        if buffer is None or buffer.size < needed:
            buffer = np.empty(needed, dtype=layout.dtype)
            self._staging[layout.name] = buffer
        try:
            values = self._h5["Data"][layout.name][start:stop]
        except OSError as exc:
            raise OSError(exc.errno, f"reading {self.path}: {exc}") from exc
        buffer[:needed] = values.reshape(-1)
        grid = ChunkGrid.one_row_chunks(stop - start, n_freqs, n_pols)
        offsets = np.arange(stop - start, dtype=np.int64) * (n_freqs * n_pols)
        return BlockSource(buffer, offsets, 0, grid)

    def close(self) -> None:
        # The numpy views must go before the mapping can be unmapped.
        self._views = {}
        if self._map is not None:
            # If a caller still holds a view, the mapping goes when that view is released.
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None
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


def read_layouts(path: Path) -> dict[str, DatasetLayout]:
    """Every dataset's layout (``chunk_iter`` on each chunked dataset); raise
    :class:`InputValidationError` when the datasets cannot be read or lie outside the file.
    """
    try:
        size = path.stat().st_size
        with h5py.File(path, "r") as handle:
            return {
                name: _dataset_layout(path, handle["Data"][name], dtype, size)
                for name, dtype in DATASETS.items()
            }
    except OSError as exc:
        raise InputValidationError(path, "Data", f"cannot read the datasets: {exc}") from exc


def _dataset_layout(
    path: Path, dataset: h5py.Dataset, dtype: np.dtype[Any], file_size: int
) -> DatasetLayout:
    full = tuple(dataset.shape)
    shape = (full[0], full[-2], full[-1])
    name = dataset.name.rsplit("/", 1)[-1]
    plist = dataset.id.get_create_plist()
    native = dataset.id.get_type() == h5py.h5t.py_create(dtype, logical=True)
    kind = plist.get_layout()
    one_row = ChunkGrid.one_row_chunks(*shape)
    unmapped = DatasetLayout(name, shape, dtype, one_row, None)
    if not native or plist.get_nfilters() != 0:
        return unmapped
    itemsize = dtype.itemsize
    if kind == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()
        if offset is None:  # never written: no bytes at all
            raise InputValidationError(path, f"Data/{name}", "no data was ever written")
        if offset % itemsize:
            return unmapped
        row_elements = shape[1] * shape[2]
        offsets = offset // itemsize + np.arange(shape[0], dtype=np.int64) * row_elements
        _check_inside(path, name, offsets, row_elements, itemsize, file_size)
        return DatasetLayout(name, shape, dtype, one_row, offsets)
    chunks = tuple(dataset.chunks or ())
    if kind != h5py.h5d.CHUNKED or (len(chunks) == 4 and chunks[1] != full[1]):
        return unmapped
    chunk = (chunks[0], chunks[-2], chunks[-1])
    grid = ChunkGrid(
        chunk=chunk,
        grid=(-(-shape[0] // chunk[0]), -(-shape[1] // chunk[1]), -(-shape[2] // chunk[2])),
    )
    byte_offsets = _chunk_byte_offsets(path, dataset, grid)
    if np.any(byte_offsets % itemsize):
        return unmapped
    offsets = byte_offsets // itemsize
    _check_inside(path, name, offsets, grid.chunk_elements, itemsize, file_size)
    return DatasetLayout(name, shape, dtype, grid, offsets)


def _chunk_byte_offsets(path: Path, dataset: h5py.Dataset, grid: ChunkGrid) -> npt.NDArray:
    """File byte offset of every chunk, in chunk-grid order (row-chunk major)."""
    chunk_bytes = math.prod(dataset.chunks) * dataset.dtype.itemsize
    name = f"Data/{dataset.name.rsplit('/', 1)[-1]}"
    expected = math.prod(grid.grid)
    try:
        chunks = chunk_records(dataset, expected)
    except ChunkIndexError as exc:
        raise InputValidationError(path, name, f"unreadable chunk index: {exc}") from exc
    sizes = np.unique(chunks[:, SIZE])
    if sizes.size and (sizes.size > 1 or sizes[0] != chunk_bytes):
        raise InputValidationError(
            path, name, f"chunks of {sizes.tolist()} bytes, expected {chunk_bytes}"
        )
    if len(chunks) != expected:
        raise InputValidationError(
            path, name, f"{expected - len(chunks)} of {expected} chunks were never written"
        )
    index = np.ravel_multi_index(
        (
            chunks[:, ROW] // grid.chunk[0],
            chunks[:, FREQ] // grid.chunk[1],
            chunks[:, POL] // grid.chunk[2],
        ),
        grid.grid,
    )
    offsets = np.full(expected, -1, dtype=np.int64)
    offsets[index] = chunks[:, ADDRESS]
    if np.any(offsets < 0):  # as many chunks as the grid holds, yet one listed twice
        raise InputValidationError(path, name, "the chunk index lists a chunk twice: corrupt")
    return offsets


def _check_inside(
    path: Path,
    name: str,
    offsets: npt.NDArray[np.int64],
    elements: int,
    itemsize: int,
    file_size: int,
) -> None:
    if offsets.size and (int(offsets.max()) + elements) * itemsize > file_size:
        raise InputValidationError(
            path, f"Data/{name}", f"data beyond the end of the file ({file_size} bytes): truncated"
        )
