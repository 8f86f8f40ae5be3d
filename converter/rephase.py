"""Turn one subband's block of correlator rows into its channels of the MS block.

For every row and channel the MS holds ``conj(V · exp(−2πi Δw f / c))``: the
visibility re-phased from the meridian to the new centre (pyuvdata's sign convention,
see :mod:`converter.astrometry`), then conjugated because CASA's baseline convention is
the opposite of UVH5's (pyuvdata's ``write_ms`` does the same: ``flip_conj``). Channels
are reversed where the file stores them descending, and polarisations put in CASA order.

The phasor of row r at channel j of a subband whose lowest channel is f₀ factors as
``exp(i k_r f₀) · exp(i k_r j δf)`` with ``k_r = 2π Δw_r / c``: the second factor is the
same for every subband, so each block costs one complex exponential per row and
channel-offset, one per row and subband, and one complex multiply per visibility.
Everything is plain numpy on preallocated arrays (the ufuncs release the GIL, so this
runs beside the reader and writer threads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy import constants

_TWO_PI_OVER_C = 2.0 * np.pi / constants.c.to_value("m/s")


@dataclass(frozen=True)
class BlockPhasor:
    """The per-block factors: ``k`` (rad/Hz per row) and the channel-offset phasors."""

    k_rad_per_hz: npt.NDArray[np.float64]  # (rows,)
    offsets: npt.NDArray[np.complex128]  # (rows, channels_per_subband): exp(i k j δf)

    @classmethod
    def for_rows(
        cls, delta_w_m: npt.NDArray[np.float64], channel_width_hz: float, n_channels: int
    ) -> BlockPhasor:
        k = delta_w_m * _TWO_PI_OVER_C
        offsets = np.exp(1j * np.multiply.outer(k, np.arange(n_channels) * channel_width_hz))
        return cls(k_rad_per_hz=k, offsets=offsets)

    def subband(self, lowest_freq_hz: float) -> npt.NDArray[np.complex64]:
        """Phasors (rows, channels) of the subband whose lowest channel is at this frequency."""
        base = np.exp(1j * self.k_rad_per_hz * lowest_freq_hz)
        return (base[:, np.newaxis] * self.offsets).astype(np.complex64)


def rephase_into(
    vis: npt.NDArray[np.complex64],
    phasor: npt.NDArray[np.complex64],
    out: npt.NDArray[np.complex64],
    *,
    descending: bool,
    pol_order: npt.NDArray[np.intp] | None,
) -> None:
    """``out[r, j, p] = conj(vis[r, j', p']) · phasor[r, j]`` with j' and p' reordered.

    ``vis`` is (rows, channels, pols) as stored in the file; ``out`` the subband's slice
    of the MS block, (rows, channels, pols) in ascending frequency and CASA pol order.
    """
    source = vis[:, ::-1, :] if descending else vis
    if pol_order is not None:
        source = source[:, :, pol_order]
    np.conjugate(source, out=out)
    np.multiply(out, phasor[:, :, np.newaxis], out=out)


def reorder_flags(
    flags: npt.NDArray[np.bool_],
    out: npt.NDArray[np.bool_],
    *,
    descending: bool,
    pol_order: npt.NDArray[np.intp] | None,
) -> None:
    """Copy flags into the MS block with the same channel and pol reordering as the data."""
    source = flags[:, ::-1, :] if descending else flags
    if pol_order is not None:
        source = source[:, :, pol_order]
    np.copyto(out, source)
