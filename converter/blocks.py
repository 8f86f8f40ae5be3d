"""The block pipeline: re-phase the subbands into MS rows and write them.

Rows are processed in blocks (a multiple of the MS tile height and of the files' chunk
height, ~85 MB of DATA for a full dump; :func:`plan_blocks`). The stages overlap on
two cores:

* the prefetcher (:mod:`converter.prefetch`) reads each block's bytes of every file
  ahead of the computation, in block order (:func:`read_steps`); the calling thread
  waits until the block is in memory, gathers it from the mapped files into an output
  buffer, re-phased (:mod:`converter.rephase`; no GIL held; half the rows on a helper
  thread), and lets go of the block's pages (``MADV_DONTNEED``);
* a writer thread hands the previous block to casacore, which holds the GIL while it
  copies into its tiles; a third thread then asks the kernel to start writing those
  pages back (``POSIX_FADV_DONTNEED``, no GIL held) and, once every input byte has been
  read, waits until they are on disk (``fdatasync``), so that the final fsync has
  little left to do, while the writer goes on with the next block.

Two output buffer sets rotate, so memory is bounded by two blocks plus the mapped
pages of about two blocks, whatever the size of the dump.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from converter.errors import InputValidationError
from converter.inputs import GroupInputs
from converter.ms_writer import MainBlock, MainTableWriter
from converter.prefetch import FileRange
from converter.reader import DATASETS, SubbandReader
from converter.rephase import (
    TWO_PI_OVER_C,
    Batch,
    differs,
    first_value,
    gather_into,
    rephase_into,
)
from converter.timing import StageTimer

#: Aim for blocks of about this many bytes of DATA.
TARGET_BLOCK_BYTES = 96 * 2**20


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


def plan_blocks(
    inputs: GroupInputs, readers: dict[int, SubbandReader], tile_rows: int
) -> list[tuple[int, int]]:
    """The blocks' row ranges: each starts on an MS tile and on every file's chunk row."""
    alignment = math.lcm(tile_rows, *(r.row_alignment for r in readers.values()))
    return list(_ranges(inputs.reference.n_blts, block_rows(inputs, alignment)))


def read_steps(
    blocks: Sequence[tuple[int, int]], readers: dict[int, SubbandReader]
) -> list[list[FileRange]]:
    """Per block, the bytes of every file it needs that no earlier block needed.

    A block's chunks of one file lie between its lowest and highest chunk (a band of
    the file, shared in part with the next block), so each file is read once, from the
    first block's lowest chunk on, as far as each block needs.
    """
    read_up_to: dict[int, int] = {}
    steps: list[list[FileRange]] = []
    for start, stop in blocks:
        step = []
        for subband, reader in readers.items():
            low, high = reader.byte_range(start, stop)
            low = read_up_to.get(subband, low)
            if high > low:
                step.append(FileRange(reader.path, low, high))
                read_up_to[subband] = high
        steps.append(step)
    return steps


def stream_blocks(
    inputs: GroupInputs,
    readers: dict[int, SubbandReader],
    writer: MainTableWriter,
    rows: BlockInputs,
    timer: StageTimer,
    blocks: Sequence[tuple[int, int]],
    ready: Callable[[int], None] | None = None,
    inputs_read: Callable[[], bool] | None = None,
) -> None:
    """Fill every row of the bulk columns, block by block; raise the first error of
    any stage. ``ready(n)`` returns once block n's input bytes are in memory;
    ``inputs_read()`` tells whether all of them are, after which each block's write-back
    waits until the block is on disk (:meth:`MainTableWriter.start_writeback`)."""
    size = max(stop - start for start, stop in blocks)
    out_sets = [_output_block(inputs, size, rows) for _ in range(2)]
    sources = _Sources(inputs, readers, rows.pol_map)
    k_rad_per_hz = np.zeros(size)

    writebacks: list[Future[None]] = []

    def write(index: int) -> None:
        start, stop = blocks[index]
        with timer.stage("write"):
            writer.write(start, out_sets[index % 2].rows(0, stop - start))
        writebacks.append(writeback_pool.submit(writeback))

    def writeback() -> None:
        with timer.stage("writeback"):
            writer.start_writeback(durable=inputs_read is not None and inputs_read())

    with (
        ThreadPoolExecutor(1, thread_name_prefix="write") as write_pool,
        ThreadPoolExecutor(1, thread_name_prefix="writeback") as writeback_pool,
        ThreadPoolExecutor(1, thread_name_prefix="compute") as helper,
    ):
        pending: list[Future[None]] = []
        try:
            for index, (start, stop) in enumerate(blocks):
                if ready is not None:
                    with timer.stage("wait_read"):
                        ready(index)
                if len(pending) >= 2:  # the output set we are about to reuse
                    with timer.stage("wait_write"):
                        pending.pop(0).result()
                with timer.stage("read_rephase"):
                    np.multiply(
                        rows.delta_w_m[start:stop], TWO_PI_OVER_C, out=k_rad_per_hz[: stop - start]
                    )
                    _compute_block(
                        inputs,
                        rows,
                        start,
                        stop,
                        sources,
                        out_sets[index % 2],
                        k_rad_per_hz,
                        helper,
                    )
                sources.done_with(start, stop)
                pending.append(write_pool.submit(write, index))
            with timer.stage("wait_write"):
                for future in pending:
                    future.result()
                for future in writebacks:
                    future.result()
        except BaseException:
            for future in pending + writebacks:
                future.cancel()
            raise


class _Sources:
    """The batches of every dataset: subbands sharing a layout go in one kernel call."""

    def __init__(
        self, inputs: GroupInputs, readers: dict[int, SubbandReader], pol_map: tuple[int, ...]
    ) -> None:
        self.inputs = inputs
        self.readers = readers
        self.pol_map = pol_map
        #: Sub-blocks starting at multiples of this begin on every dataset's chunk boundary.
        self.alignment = math.lcm(*(r.row_alignment for r in readers.values()))
        self._mapped: dict[str, list[Batch]] = {}
        self._unmapped: dict[str, list[int]] = {}
        for name in DATASETS:
            groups: dict[tuple[int, ...], list[int]] = {}
            for sb in inputs.present:
                layout = readers[sb].layouts[name]
                if layout.mapped:
                    key = (*layout.grid.chunk, *layout.grid.grid)
                    groups.setdefault(key, []).append(sb)
                else:
                    self._unmapped.setdefault(name, []).append(sb)
            self._mapped[name] = [self._batch(name, members, 0, 0) for members in groups.values()]

    @property
    def all_mapped(self) -> bool:
        """Every dataset is read from the mapped files (no shared h5py staging buffer)."""
        return not any(self._unmapped.values())

    def batches(self, name: str, start: int, stop: int) -> Iterator[Batch]:
        for batch in self._mapped[name]:
            yield batch.at(start // batch.grid.chunk[0])
        for sb in self._unmapped.get(name, []):
            yield self._batch(name, [sb], start, stop)

    def _batch(self, name: str, subbands: list[int], start: int, stop: int) -> Batch:
        sources = [self.readers[sb].source(name, start, stop) for sb in subbands]
        firsts = [self.inputs.band.channel_slice(sb).start for sb in subbands]
        descending = [_descending(self.inputs.headers[sb].freqs_hz) for sb in subbands]
        n_freqs = self.inputs.band.channels_per_subband
        return Batch.of(sources, firsts, descending, n_freqs, self.pol_map)

    def done_with(self, start: int, stop: int) -> None:
        for reader in self.readers.values():
            reader.done_with(start, stop)


def _descending(freqs_hz: npt.NDArray[np.float64]) -> bool:
    return bool(freqs_hz[0] > freqs_hz[-1])


def _compute_block(
    inputs: GroupInputs,
    rows: BlockInputs,
    start: int,
    stop: int,
    sources: _Sources,
    out: MainBlock,
    k_rad_per_hz: npt.NDArray[np.float64],
    helper: ThreadPoolExecutor,
) -> None:
    """Fill one output block; the kernels run on two threads (no GIL), half the rows each."""
    n = stop - start
    split = (n // 2) // sources.alignment * sources.alignment if sources.all_mapped else 0
    halves = [(0, split), (split, n)] if split > 0 else [(0, n)]
    futures = [
        helper.submit(_fill_rows, inputs, sources, start, lo, hi, out, k_rad_per_hz)
        for lo, hi in halves[1:]
    ]
    filled = [_fill_rows(inputs, sources, start, *halves[0], out, k_rad_per_hz)]
    filled += [future.result() for future in futures]
    weight = out.weight[:n]
    uniform = {half.nsamples for half in filled}
    if len(uniform) == 1 and None not in uniform:  # nsamples are usually all equal
        weight[...] = uniform.pop()
    else:
        weight[...] = _median_nsamples(inputs, sources, start, stop)
    np.divide(1.0, np.sqrt(weight), out=out.sigma[:n], where=weight > 0)
    out.sigma[:n][weight <= 0] = 0.0
    swap = np.flatnonzero(rows.conjugate_rows[start:stop])
    if swap.size:
        out.data[swap] = np.conjugate(out.data[swap])
    if any(half.flagged for half in filled):
        np.all(out.flags[:n], axis=(1, 2), out=out.flag_row[:n])
    else:  # every present channel is unflagged
        out.flag_row[:n] = False
    if rows.model_per_time is not None and out.model is not None:
        out.model[:n] = rows.model_per_time[rows.time_index[start:stop], :, np.newaxis]


@dataclass(frozen=True)
class _Filled:
    """What filling some rows found: any flag set, and the one nsamples value of all
    their values (None if they are not all equal)."""

    flagged: bool
    nsamples: float | None


def _fill_rows(
    inputs: GroupInputs,
    sources: _Sources,
    start: int,
    lo: int,
    hi: int,
    out: MainBlock,
    k_rad_per_hz: npt.NDArray[np.float64],
) -> _Filled:
    """Rows ``lo..hi`` of the block that starts at ``start``: DATA and FLAG filled.

    Flags are gathered only where some are set (usually none are); otherwise the
    subbands' channels are cleared, since the buffer holds an earlier block's flags.
    """
    band = inputs.band
    first, last, n = start + lo, start + hi, hi - lo
    for batch in sources.batches("visdata", first, last):
        lowest = band.freqs_hz[batch.first_channels]
        rephase_into(batch, lowest, k_rad_per_hz[lo:hi], band.channel_width_hz, out.data[lo:hi], n)
    flagged = False
    for batch in sources.batches("flags", first, last):
        if differs(batch, n, False):
            gather_into(batch, out.flags[lo:hi], n)
            flagged = True
        else:
            for channel in batch.first_channels.tolist():
                out.flags[lo:hi, channel : channel + batch.n_freqs] = False
    value: float | None = None
    for batch in sources.batches("nsamples", first, last):
        candidate = float(first_value(batch)) if value is None else value
        if differs(batch, n, candidate):
            return _Filled(flagged, None)
        value = candidate
    return _Filled(flagged, value)


def _median_nsamples(
    inputs: GroupInputs, sources: _Sources, start: int, stop: int
) -> npt.NDArray[np.float32]:
    """pyuvdata's WEIGHT: per row and pol, the median of nsamples over present channels."""
    n = stop - start
    nsamples = np.zeros((n, inputs.band.n_channels, len(sources.pol_map)), dtype=np.float32)
    for batch in sources.batches("nsamples", start, stop):
        gather_into(batch, nsamples, n)
    present = np.concatenate(
        [nsamples[:, inputs.band.channel_slice(sb), :] for sb in inputs.present], axis=1
    )
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
