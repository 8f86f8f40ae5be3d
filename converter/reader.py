"""Read blocks of rows (visdata, flags, nsamples) from a subband file, fast.

The correlator creates its datasets resizable with h5py's automatic chunking, which for
(Nblts, 1, 48, 2) complex64 gives 12 KB chunks of (128, 1, 12, 1): ~18,000 chunks per
file. HDF5 spends ~25 µs on each chunk it reads (measured: 0.25–0.35 s per visdata
dataset with the page cache warm, ~6 s per dump), which alone would cost more than the
whole disk budget of a conversion. So this module asks HDF5 (through h5py) only *where*
the chunks are (``chunk_iter``, ~3 µs per chunk, once per file) and then reads their
bytes itself with ``os.preadv`` straight into a chunk-ordered buffer, one system call per
run of adjacent chunks (the correlator appends whole integrations, so runs are long),
without holding the GIL. A single numpy copy rearranges the buffer into rows.

Only the plain layouts the correlator writes take this path: unfiltered chunked or
contiguous datasets of the native types. Anything else (compression, other dtypes) is
read through h5py, slower but correct.
"""

from __future__ import annotations

import math
import os
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
class ChunkRuns:
    """Chunks of one dataset as runs adjacent both in the chunk grid and in the file.

    ``grid_start[i]`` is the linear chunk-grid index (row-chunk major, C order) of the
    first chunk of run ``i``, ``length[i]`` its number of chunks and ``file_offset[i]``
    the byte offset of its first chunk.
    """

    chunk_shape: tuple[int, int, int]  # rows, freqs, pols (spw axis dropped)
    grid_shape: tuple[int, int, int]  # chunks along rows, freqs, pols
    chunk_bytes: int
    grid_start: npt.NDArray[np.int64]
    length: npt.NDArray[np.int64]
    file_offset: npt.NDArray[np.int64]


@dataclass(frozen=True)
class DatasetLayout:
    """Where one dataset's bytes live: contiguous at ``offset``, chunked in ``runs``,
    or neither (``h5py_only``: read through h5py)."""

    name: str
    shape: tuple[int, int, int]  # Nblts, Nfreqs, Npols
    dtype: np.dtype[Any]
    offset: int | None = None
    runs: ChunkRuns | None = None

    @property
    def h5py_only(self) -> bool:
        return self.offset is None and self.runs is None

    @property
    def row_alignment(self) -> int:
        """Block boundaries on multiples of this read whole chunks only."""
        return self.runs.chunk_shape[0] if self.runs is not None else 1


class SubbandReader:
    """An open subband file from which blocks of rows are read into caller's arrays.

    Thread-compatible: one reader is used by one thread at a time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._h5: h5py.File | None = None
        self._fd = -1
        self._buffers: dict[str, npt.NDArray[Any]] = {}
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
        if any(layout.h5py_only for layout in self.layouts.values()):
            self._h5 = h5py.File(path, "r")
        # The kernel reads ahead more aggressively on a file declared sequential.
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

    @property
    def row_alignment(self) -> int:
        return math.lcm(*(layout.row_alignment for layout in self.layouts.values()))

    def read_rows(self, start: int, stop: int, out: dict[str, npt.NDArray[Any]]) -> None:
        """Fill ``out[name][: stop - start]`` (rows, Nfreqs, Npols) with rows start..stop."""
        for name, layout in self.layouts.items():
            target = out[name][: stop - start]
            try:
                if layout.offset is not None:
                    self._read_contiguous(layout, start, stop, target)
                elif layout.runs is not None:
                    self._read_chunked(layout, layout.runs, start, stop, target)
                else:
                    self._read_h5py(layout, start, stop, target)
            except OSError as exc:
                raise InputValidationError(
                    self.path, f"Data/{name}", f"read of rows {start}..{stop} failed: {exc}"
                ) from exc

    def _read_contiguous(
        self, layout: DatasetLayout, start: int, stop: int, target: npt.NDArray[Any]
    ) -> None:
        assert layout.offset is not None
        row_bytes = layout.shape[1] * layout.shape[2] * layout.dtype.itemsize
        _pread_exact(self._fd, memoryview(target).cast("B"), layout.offset + start * row_bytes)

    def _read_chunked(
        self,
        layout: DatasetLayout,
        runs: ChunkRuns,
        start: int,
        stop: int,
        target: npt.NDArray[Any],
    ) -> None:
        cr, cf, cp = runs.chunk_shape
        _, n_fc, n_pc = runs.grid_shape
        per_row_chunk = n_fc * n_pc
        first_rc, end_rc = start // cr, -(-stop // cr)
        grid_lo, grid_hi = first_rc * per_row_chunk, end_rc * per_row_chunk
        staged = self._staging(layout, (end_rc - first_rc, n_fc, n_pc, cr, cf, cp))
        staged_bytes = memoryview(staged).cast("B")
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
            _pread_exact(self._fd, staged_bytes[dest : dest + size], source)
        # (row-chunk, f-chunk, p-chunk, r, f, p) → (row, freq, pol)
        rows = staged.transpose(0, 3, 1, 4, 2, 5)
        n_rows, n_freqs, n_pols = stop - start, layout.shape[1], layout.shape[2]
        skip = start - first_rc * cr
        if skip == 0 and n_rows == rows.shape[0] * cr and (n_fc * cf, n_pc * cp) == (
            n_freqs,
            n_pols,
        ):
            np.copyto(target.reshape(end_rc - first_rc, cr, n_fc, cf, n_pc, cp), rows)
        else:  # a partial edge chunk: rearrange fully, then trim
            whole = rows.reshape((end_rc - first_rc) * cr, n_fc * cf, n_pc * cp)
            np.copyto(target, whole[skip : skip + n_rows, :n_freqs, :n_pols])

    def _staging(self, layout: DatasetLayout, shape: tuple[int, ...]) -> npt.NDArray[Any]:
        """A reusable buffer (fresh pages cost the kernel a zeroing pass per block)."""
        size = int(np.prod(shape))
        buffer = self._buffers.get(layout.name)
        if buffer is None or buffer.size < size:
            buffer = np.empty(size, dtype=layout.dtype)
            self._buffers[layout.name] = buffer
        return buffer[:size].reshape(shape)

    def _read_h5py(
        self, layout: DatasetLayout, start: int, stop: int, target: npt.NDArray[Any]
    ) -> None:
        assert self._h5 is not None
        dataset = self._h5["Data"][layout.name]
        values = dataset[start:stop]
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
    shape4 = tuple(dataset.shape)
    shape = (shape4[0], shape4[-2], shape4[-1])
    plain = DatasetLayout(name=dataset.name.rsplit("/", 1)[-1], shape=shape, dtype=dtype)
    plist = dataset.id.get_create_plist()
    native = dataset.id.get_type() == h5py.h5t.py_create(dtype, logical=True)
    if not native or plist.get_nfilters() != 0:
        return plain
    layout = plist.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()
        if offset is None:  # never written: no bytes at all
            raise InputValidationError(path, f"Data/{plain.name}", "no data was ever written")
        return DatasetLayout(plain.name, shape, dtype, offset=int(offset))
    if layout != h5py.h5d.CHUNKED:
        return plain
    return DatasetLayout(plain.name, shape, dtype, runs=_chunk_runs(path, dataset, dtype))


def _chunk_runs(path: Path, dataset: h5py.Dataset, dtype: np.dtype[Any]) -> ChunkRuns:
    chunks = tuple(dataset.chunks)
    full_shape = tuple(dataset.shape)
    chunk3 = (chunks[0], chunks[-2], chunks[-1])
    if len(chunks) == 4 and chunks[1] != full_shape[1]:
        raise InputValidationError(path, dataset.name, f"unexpected chunking {chunks}")
    shape3 = (full_shape[0], full_shape[-2], full_shape[-1])
    grid = tuple(-(-n // c) for n, c in zip(shape3, chunk3, strict=True))
    chunk_bytes = int(np.prod(chunks)) * dtype.itemsize
    logical: list[tuple[int, ...]] = []
    offsets: list[int] = []

    def visit(info: Any) -> None:
        logical.append(info.chunk_offset)
        offsets.append(info.byte_offset)
        if info.size != chunk_bytes:
            raise InputValidationError(
                path, dataset.name, f"chunk of {info.size} bytes, expected {chunk_bytes}"
            )

    dataset.id.chunk_iter(visit)
    expected = int(np.prod(grid))
    if len(offsets) != expected:
        raise InputValidationError(
            path,
            dataset.name,
            f"{expected - len(offsets)} of {expected} chunks were never written: incomplete file",
        )
    coords = np.asarray(logical, dtype=np.int64)
    index = np.ravel_multi_index(
        (coords[:, 0] // chunk3[0], coords[:, -2] // chunk3[1], coords[:, -1] // chunk3[2]), grid
    )
    order = np.argsort(index)
    index, file_offset = index[order], np.asarray(offsets, dtype=np.int64)[order]
    breaks = np.flatnonzero(
        (np.diff(index) != 1) | (np.diff(file_offset) != chunk_bytes)
    ) + 1
    starts = np.concatenate([[0], breaks])
    lengths = np.diff(np.concatenate([starts, [index.size]]))
    return ChunkRuns(
        chunk_shape=chunk3,  # type: ignore[arg-type]
        grid_shape=grid,  # type: ignore[arg-type]
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
            raise OSError(f"unexpected end of file at byte {offset + done}")
        done += got
