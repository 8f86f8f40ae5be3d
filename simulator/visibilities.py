"""Point-source visibilities fringestopped on the meridian, as the correlator records them.

Each integration ``t`` is phased to the apparent meridian point (HA 0, Dec = pointing
Dec) at its own time. With pyuvdata's conventions (baseline = ant2 − ant1; re-phasing
multiplies by ``exp(-2πi Δw/λ)``), a source at apparent direction ``s`` then appears as

    V(t, b, ν) = S · exp(+2πi ν/c · (w_src(t, b) − w_pc(t, b)))

where ``w_X`` is the baseline projected on direction X, so that pyuvdata, told that the
data are phased to the meridian and asked to phase to the source, makes them coherent.
The geometry depends only on the dump, so it is computed once per dump
(:class:`DumpModel`), per antenna, and each subband's visibilities are formed by
broadcasting over channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy import constants
from pyuvdata.utils.phasing import calc_uvw

from simulator.sky import PointSource, apparent_lst, apparent_position
from simulator.telescope import SITE_LAT_RAD, SITE_LON_RAD, ArrayLayout

_C_M_PER_S = constants.c.to_value("m/s")
_SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class DumpModel:
    """Geometry of one dump, shared by its 16 subbands.

    ``delay_m[k, t, a]`` is ``w_src_k − w_pc`` for data antenna ``a`` relative to the
    array centre (metres); a baseline's delay is ``delay_m[..., a2] − delay_m[..., a1]``.
    """

    times_jd: npt.NDArray  # (Nt,) integration centres
    lst_rad: npt.NDArray  # (Nt,)
    pointing_dec_rad: float
    uvw_m: npt.NDArray  # (Nt, Nbls, 3) toward the meridian at each time, float64
    delay_m: npt.NDArray  # (Nsrc, Nt, Nants_data)
    fluxes_jy: npt.NDArray  # (Nsrc,)
    index_1: npt.NDArray  # (Nbls,) index of ant_1 among the data antennas
    index_2: npt.NDArray

    @property
    def n_times(self) -> int:
        return int(self.times_jd.size)

    @property
    def n_baselines(self) -> int:
        return int(self.index_1.size)


def integration_times_jd(start_jd: float, n_times: int, integration_s: float) -> npt.NDArray:
    """Centres of ``n_times`` contiguous integrations starting at ``start_jd``."""
    return start_jd + (np.arange(n_times) + 0.5) * integration_s / _SECONDS_PER_DAY


def build_dump_model(
    layout: ArrayLayout,
    sources: Sequence[PointSource],
    times_jd: npt.NDArray,
    pointing_dec_rad: float,
) -> DumpModel:
    """Compute the per-antenna geometry of one dump (cheap: Nt × Nants_data rows)."""
    lst = apparent_lst(times_jd)
    n_times, n_ants = times_jd.size, layout.data_antennas.size
    meridian = _antenna_uvw(layout, lst, lst, np.full(n_times, pointing_dec_rad))
    delays = np.empty((len(sources), n_times, n_ants))
    for k, source in enumerate(sources):
        app_ra, app_dec = apparent_position(source, times_jd, lst)
        w_src = _antenna_uvw(layout, lst, app_ra, app_dec)[..., 2]
        delays[k] = w_src - meridian[..., 2]
    index = {int(a): i for i, a in enumerate(layout.data_antennas)}
    index_1 = np.array([index[int(a)] for a in layout.ant_1])
    index_2 = np.array([index[int(a)] for a in layout.ant_2])
    return DumpModel(
        times_jd=times_jd,
        lst_rad=lst,
        pointing_dec_rad=pointing_dec_rad,
        uvw_m=meridian[:, index_2, :] - meridian[:, index_1, :],
        delay_m=delays,
        fluxes_jy=np.array([s.flux_jy for s in sources], dtype=float),
        index_1=index_1,
        index_2=index_2,
    )


def visibilities(
    model: DumpModel,
    freqs_hz: npt.NDArray,
    times: slice = slice(None),
    noise_jy: float = 0.0,
    rng: np.random.Generator | None = None,
) -> npt.NDArray:
    """Visibilities (nt, Nbls, Nfreqs) complex64 of the integrations in ``times``.

    Autocorrelations are real and equal the total flux. ``noise_jy`` adds Gaussian noise
    of that standard deviation to the real and the imaginary part of each
    cross-correlation and to the (real) autocorrelations; it needs ``rng``.
    """
    delay = model.delay_m[:, times, :]  # (Nsrc, nt, Nants)
    n_times = delay.shape[1]
    vis = np.zeros((n_times, model.n_baselines, freqs_hz.size), dtype=np.complex64)
    turns_per_m = freqs_hz / _C_M_PER_S
    for flux, antenna_delay in zip(model.fluxes_jy, delay, strict=True):
        phasor = np.exp(2j * np.pi * antenna_delay[:, :, None] * turns_per_m).astype(np.complex64)
        vis += flux * (phasor[:, model.index_2, :] * phasor[:, model.index_1, :].conj())
    autos = model.index_1 == model.index_2
    vis[:, autos, :] = model.fluxes_jy.sum()
    if noise_jy > 0:
        if rng is None:
            raise ValueError("noise_jy > 0 needs a random generator")
        noise = rng.normal(0.0, noise_jy, size=(2, *vis.shape)).astype(np.float32)
        vis.real += noise[0]
        vis.imag += np.where(autos[None, :, None], np.float32(0), noise[1])
    return vis


def _antenna_uvw(
    layout: ArrayLayout, lst: npt.NDArray, app_ra: npt.NDArray, app_dec: npt.NDArray
) -> npt.NDArray:
    """uvw (Nt, Nants_data, 3) of each data antenna relative to the array centre.

    pyuvdata's own ``calc_uvw`` does the rotation, on "baselines" from a phantom
    antenna at the centre to each data antenna, so differences of these rows are
    exactly the baseline uvw pyuvdata computes.
    """
    n_times, n_ants = lst.size, layout.data_antennas.size
    centre = -1
    positions = np.vstack([np.zeros((1, 3)), layout.positions_m[layout.data_antennas]])
    numbers = np.concatenate([[centre], layout.data_antennas])
    uvw = calc_uvw(
        app_ra=np.repeat(app_ra, n_ants),
        app_dec=np.repeat(app_dec, n_ants),
        lst_array=np.repeat(lst, n_ants),
        use_ant_pos=True,
        antenna_positions=positions,
        antenna_numbers=numbers,
        ant_1_array=np.full(n_times * n_ants, centre),
        ant_2_array=np.tile(layout.data_antennas, n_times),
        telescope_lat=SITE_LAT_RAD,
        telescope_lon=SITE_LON_RAD,
    )
    return np.asarray(uvw).reshape(n_times, n_ants, 3)
