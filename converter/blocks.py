"""The block pipeline: read, re-phase and write the MAIN table's bulk columns.

Rows are processed in blocks (a multiple of the MS tile height and of the files' chunk
height, ~85 MB of DATA for a full dump). Three stages overlap on two cores:

* a reader thread fills the next block's input buffers from all subband files
  (``os.preadv``, no GIL held while the disk works);
* the calling thread re-phases the current block into an output buffer (numpy ufuncs,
  which release the GIL);
* a writer thread hands the previous block to casacore, which holds the GIL while it
  copies into its tiles, and asks the kernel to start writing those pages back
  (``POSIX_FADV_DONTNEED``) so that the final fsync has little left to do.

Two input and two output buffer sets rotate, so memory is bounded by four blocks
whatever the size of the dump.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from converter.errors import InputValidationError
from converter.inputs import GroupInputs
from converter.ms_writer import MainBlock, MainTableWriter
from converter.reader import DATASETS, StagedRows, SubbandReader
from converter.rephase import TWO_PI_OVER_C, Batch, GatherTable, gather_into, rephase_into
from converter.timing import StageTimer

#: Aim for blocks of about this many bytes of DATA.
TARGET_BLOCK_BYTES = 96 * 2**20

StagedSet = dict[int, dict[str, StagedRows]]


@dataclass(frozen=True)
class BlockInputs:
    """Per-row arrays of the whole group that the block computation needs."""

    delta_w_m: npt.NDArray[np.float64]  # (Nblts,)
    conjugate_rows: npt.NDArray[np.bool_]  # (Nblts,) rows whose antennas are swapped
    pol_map: tuple[int, ...]  # MS (CASA order) index of each file polarisation
    model_per_time: npt.NDArray[np.complex64] | None  # (Ntimes, channels) or None
    time_index: npt.NDArray[np.intp]  # (Nblts,)
    model_column: bool  # MODEL_DATA is written (model_per_time, or 1)


def block_rows(inputs: GroupInputs, alignment: int) -> int:
    """Rows per block: near TARGET_BLOCK_BYTES of DATA and a multiple of ``alignment``."""
    ref = inputs.reference
    row_bytes = inputs.band.n_channels * len(ref.polarizations) * 8
    rows = max(alignment, (TARGET_BLOCK_BYTES // row_bytes) // alignment * alignment)
    return int(min(rows, -(-ref.n_blts // alignment) * alignment))


def stream_blocks(
    inputs: GroupInputs,
    readers: dict[int, SubbandReader],
    writer: MainTableWriter,
    rows: BlockInputs,
    timer: StageTimer,
) -> None:
    """Fill every row of the bulk columns; raise the first error of any stage."""
    alignment = math.lcm(writer.shape.tile_rows, *(r.row_alignment for r in readers.values()))
    size = block_rows(inputs, alignment)
    blocks = list(_ranges(inputs.reference.n_blts, size))
    in_sets = [_StagingSet(readers, size) for _ in range(2)]
    out_sets = [_output_block(inputs, size, rows) for _ in range(2)]
    scratch = _Scratch(inputs, size, rows.pol_map)

    def read(index: int) -> _StagingSet:
        start, stop = blocks[index]
        staging = in_sets[index % 2]
        with timer.stage("read"):
            staging.staged = {
                sb: r.read_rows(start, stop, staging.buffers[sb]) for sb, r in readers.items()
            }
        return staging

    def write(index: int) -> None:
        start, stop = blocks[index]
        with timer.stage("write"):
            writer.write(start, _head(out_sets[index % 2], stop - start))
            writer.start_writeback()

    with (
        ThreadPoolExecutor(1, thread_name_prefix="read") as read_pool,
        ThreadPoolExecutor(1, thread_name_prefix="write") as write_pool,
    ):
        pending_writes: list[Future[None]] = []
        next_read = read_pool.submit(read, 0)
        try:
            for index, (start, stop) in enumerate(blocks):
                with timer.stage("wait_read"):
                    staging = next_read.result()
                if index + 1 < len(blocks):
                    next_read = read_pool.submit(read, index + 1)
                if len(pending_writes) >= 2:  # the output set we are about to reuse
                    with timer.stage("wait_write"):
                        pending_writes.pop(0).result()
                with timer.stage("rephase"):
                    _compute_block(
                        inputs, rows, start, stop, staging, out_sets[index % 2], scratch
                    )
                pending_writes.append(write_pool.submit(write, index))
            with timer.stage("wait_write"):
                for future in pending_writes:
                    future.result()
        except BaseException:
            next_read.cancel()
            for future in pending_writes:
                future.cancel()
            raise


class _StagingSet:
    """One block's staging buffers for every subband.

    Where all files share a dataset's layout (the correlator's always do) the buffers
    are slices of one joint array, so one compiled call processes every subband.
    """

    def __init__(self, readers: dict[int, SubbandReader], size: int) -> None:
        self.buffers: dict[int, dict[str, npt.NDArray[Any]]] = {sb: {} for sb in readers}
        self.joint: dict[str, npt.NDArray[Any]] = {}
        self.staged: StagedSet = {}
        order = sorted(readers)
        for name, dtype in DATASETS.items():
            shapes = {sb: readers[sb].layouts[name].staged_shape(size) for sb in order}
            if len(set(shapes.values())) == 1:
                joint = np.empty((len(order), *shapes[order[0]]), dtype=dtype)
                self.joint[name] = joint
                for index, sb in enumerate(order):
                    self.buffers[sb][name] = joint[index]
            else:
                for sb in order:
                    self.buffers[sb][name] = np.empty(shapes[sb], dtype=dtype)

    def batches(self, name: str, scratch: _Scratch) -> list[Batch]:
        """The block's subbands for ``name``: one batch if they share a layout."""
        order = sorted(self.staged)
        staged = [self.staged[sb][name] for sb in order]
        tables = [scratch.table(sb, name, rows) for sb, rows in zip(order, staged, strict=True)]
        firsts = [scratch.inputs.band.channel_slice(sb).start for sb in order]
        if name in self.joint:
            return [Batch.of(self.joint[name], staged, tables, firsts)]
        return [
            Batch.of(rows.array, [rows], [table], [first])
            for rows, table, first in zip(staged, tables, firsts, strict=True)
        ]


class _Scratch:
    """Work arrays and gather tables of the compute stage, reused from block to block."""

    def __init__(self, inputs: GroupInputs, size: int, pol_map: tuple[int, ...]) -> None:
        self.inputs = inputs
        self.pol_map = pol_map
        self.k_rad_per_hz = np.zeros(size)
        self._nsamples_shape = (size, inputs.band.n_channels, len(pol_map))
        self._nsamples: npt.NDArray[np.float32] | None = None
        self._tables: dict[tuple[int, str, tuple[int, ...]], GatherTable] = {}

    def table(self, subband: int, name: str, staged: StagedRows) -> GatherTable:
        key = (subband, name, staged.array.shape)
        table = self._tables.get(key)
        if table is None:
            header = self.inputs.headers[subband]
            descending = bool(header.freqs_hz[0] > header.freqs_hz[-1])
            table = GatherTable.for_staged(staged, descending=descending, pol_map=self.pol_map)
            self._tables[key] = table
        return table

    @property
    def nsamples(self) -> npt.NDArray[np.float32]:
        """(rows, channels, pols) nsamples in MS order; only when they vary (rare)."""
        if self._nsamples is None:
            self._nsamples = np.empty(self._nsamples_shape, dtype=np.float32)
        return self._nsamples


def _compute_block(
    inputs: GroupInputs,
    rows: BlockInputs,
    start: int,
    stop: int,
    staging: _StagingSet,
    out: MainBlock,
    scratch: _Scratch,
) -> None:
    n = stop - start
    band = inputs.band
    k = scratch.k_rad_per_hz
    np.multiply(rows.delta_w_m[start:stop], TWO_PI_OVER_C, out=k[:n])
    k[n:] = 0.0
    for batch in staging.batches("visdata", scratch):
        lowest = band.freqs_hz[batch.first_channels]
        rephase_into(batch, lowest, k, band.channel_width_hz, out.data)
    for batch in staging.batches("flags", scratch):
        gather_into(batch, out.flags)
    weight = out.weight[:n]
    # A cheap first look (padding rows included): nsamples are usually all equal.
    extremes = {
        float(x)
        for rows_ in staging.staged.values()
        for x in (rows_["nsamples"].array.min(), rows_["nsamples"].array.max())
    }
    if len(extremes) == 1:
        weight[...] = extremes.pop()
    else:
        weight[...] = _median_nsamples(inputs, staging, scratch, n)
    np.divide(1.0, np.sqrt(weight), out=out.sigma[:n], where=weight > 0)
    out.sigma[:n][weight <= 0] = 0.0
    swap = np.flatnonzero(rows.conjugate_rows[start:stop])
    if swap.size:
        out.data[swap] = np.conjugate(out.data[swap])
    np.all(out.flags[:n], axis=(1, 2), out=out.flag_row[:n])
    if rows.model_per_time is not None and out.model is not None:
        out.model[:n] = rows.model_per_time[rows.time_index[start:stop], :, np.newaxis]


def _median_nsamples(
    inputs: GroupInputs, staging: _StagingSet, scratch: _Scratch, n: int
) -> npt.NDArray[np.float32]:
    """pyuvdata's WEIGHT: per row and pol, the median of nsamples over present channels."""
    nsamples = scratch.nsamples
    for batch in staging.batches("nsamples", scratch):
        gather_into(batch, nsamples)
    present = np.concatenate(
        [nsamples[:n, inputs.band.channel_slice(sb), :] for sb in inputs.present], axis=1
    )
    if present.min() == present.max():
        return np.full((n, present.shape[2]), present.flat[0], dtype=np.float32)
    return np.median(present, axis=1).astype(np.float32)


def _output_block(inputs: GroupInputs, size: int, rows: BlockInputs) -> MainBlock:
    """Output buffers; missing subbands' channels are zero and flagged once, for good."""
    shape = (size, inputs.band.n_channels, len(inputs.reference.polarizations))
    flags = np.zeros(shape, dtype=bool)
    for subband in inputs.missing:
        flags[:, inputs.band.channel_slice(subband), :] = True
    model = None
    if rows.model_column:
        model = np.ones(shape, dtype=np.complex64)
    return MainBlock(
        data=np.zeros(shape, dtype=np.complex64),
        flags=flags,
        weight=np.empty(shape[::2], dtype=np.float32),
        sigma=np.empty(shape[::2], dtype=np.float32),
        flag_row=np.empty(size, dtype=bool),
        model=model,
    )


def _head(block: MainBlock, n: int) -> MainBlock:
    return MainBlock(
        data=block.data[:n],
        flags=block.flags[:n],
        weight=block.weight[:n],
        sigma=block.sigma[:n],
        flag_row=block.flag_row[:n],
        model=None if block.model is None else block.model[:n],
    )


def _ranges(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)


def check_readers_match(inputs: GroupInputs, readers: dict[int, SubbandReader]) -> None:
    """The datasets' shapes, as the readers see them, must agree with the headers."""
    for subband, reader in readers.items():
        header = inputs.headers[subband]
        for name, layout in reader.layouts.items():
            expected = (header.n_blts, header.n_freqs, len(header.polarizations))
            if layout.shape != expected:
                raise InputValidationError(
                    header.path, f"Data/{name}", f"shape {layout.shape}, expected {expected}"
                )
