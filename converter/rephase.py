"""Turn one subband's block of correlator rows into its channels of the MS block.

For every row and channel the MS holds ``conj(V · exp(−2πi Δw f / c))``: the
visibility re-phased from the meridian to the new centre (pyuvdata's sign convention,
see :mod:`converter.astrometry`), then conjugated because CASA's baseline convention is
the opposite of UVH5's (pyuvdata's ``write_ms`` does the same: ``flip_conj``). Channels
are reversed where the file stores them descending, and polarisations put in CASA order.

The phasor of row r at channel j of a subband whose lowest channel is f₀ factors as
``exp(i k_r f₀) · exp(i k_r j δf)`` with ``k_r = 2π Δw_r / c``: the second factor is the
same for every subband, so a block costs one complex exponential per row and channel
offset, one per row and subband, and two passes over the visibilities: a conjugating
copy from the file's chunk order (:class:`~converter.reader.StagedRows`) into MS order,
and an in-place multiply. Everything is plain numpy on preallocated arrays; the ufuncs
release the GIL, so this runs beside the reader and writer threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy import constants

from converter.reader import StagedRows

_TWO_PI_OVER_C = 2.0 * np.pi / constants.c.to_value("m/s")


@dataclass(frozen=True)
class BlockPhasor:
    """Per-block factors: ``k`` per row and the channel-offset phasors (rows, chan, pol)."""

    k_rad_per_hz: npt.NDArray[np.float64]  # (rows,)
    offsets: npt.NDArray[np.complex64]  # (rows, channels_per_subband, pols)

    @classmethod
    def for_rows(
        cls,
        delta_w_m: npt.NDArray[np.float64],
        channel_width_hz: float,
        n_channels: int,
        n_pols: int,
    ) -> BlockPhasor:
        k = delta_w_m * _TWO_PI_OVER_C
        # exp(i k j δf) as powers of exp(i k δf): a running product (float64, error
        # ~1e-14 after 48 steps) costs a third of evaluating the exponentials.
        powers = np.empty((k.size, n_channels), dtype=np.complex128)
        powers[:, 0] = 1.0
        powers[:, 1:] = np.exp(1j * k * channel_width_hz)[:, np.newaxis]
        np.cumprod(powers, axis=1, out=powers)
        repeated = np.repeat(powers.astype(np.complex64)[:, :, np.newaxis], n_pols, axis=2)
        return cls(k_rad_per_hz=k, offsets=repeated)

    def subband_into(self, lowest_freq_hz: float, out: npt.NDArray[np.complex64]) -> None:
        """Phasors (rows, channels, pols) of the subband whose lowest channel is given."""
        base = np.exp(1j * self.k_rad_per_hz * lowest_freq_hz).astype(np.complex64)
        np.multiply(base[:, np.newaxis, np.newaxis], self.offsets, out=out)


def rephase_into(
    staged: StagedRows,
    phasors: npt.NDArray[np.complex64],
    out: npt.NDArray[np.complex64],
    *,
    descending: bool,
    pol_map: tuple[int, ...],
) -> None:
    """``out[r, j, p] = conj(V[r, j', p']) · phasors[r, j, p]``, j' and p' reordered.

    ``out`` is the subband's slice of the MS block (rows ≥ ``staged.padded_rows``,
    channels ascending, pols in MS order); ``pol_map[p']`` is the MS index of file pol
    p'. Rows beyond ``staged.n_rows`` receive padding, which the writer never writes.
    """
    rows = staged.padded_rows
    _reorder(staged, out, descending, pol_map, np.conjugate)
    head = out[:rows]
    np.multiply(head, phasors[:rows], out=head)


def reorder_into(
    staged: StagedRows,
    out: npt.NDArray[Any],
    *,
    descending: bool,
    pol_map: tuple[int, ...],
) -> None:
    """Copy flags (or nsamples) into MS order, reordered like the data."""
    _reorder(staged, out, descending, pol_map, np.copyto)


def _reorder(
    staged: StagedRows,
    out: npt.NDArray[Any],
    descending: bool,
    pol_map: tuple[int, ...],
    operation: Any,
) -> None:
    rows = staged.padded_rows
    n_freqs = staged.n_freqs
    for pol, first, piece in staged.pieces():
        width = piece.shape[-1]
        if descending:
            target = out[:rows, n_freqs - first - width : n_freqs - first, pol_map[pol]]
            source = piece[:, :, ::-1]
        else:
            target = out[:rows, first : first + width, pol_map[pol]]
            source = piece
        view = target.view()
        view.shape = piece.shape  # raises rather than silently copying
        if operation is np.copyto:
            np.copyto(view, source)
        else:
            operation(source, out=view)
