"""The optional calibrator model for MODEL_DATA (``--flux``), DOMAIN.md §3.

A point source of ``flux_jy`` at the phase centre, with spectral index −0.7 about
1.4 GHz, attenuated by the primary beam
``pb = (cos(π a) / (1 − 4 a²))⁴`` with ``a = 1.2 θ D / λ``, where θ is the angle between
the dishes' pointing (the meridian at the pointing dec, at each integration) and the
source. The model is the same for every baseline and both polarisations of one
integration, so it is computed per (integration, channel) and broadcast.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from astropy import constants
from astropy.coordinates import angular_separation

from converter.telescope import (
    DISH_DIAMETER_M,
    MODEL_REFERENCE_FREQUENCY_HZ,
    MODEL_SPECTRAL_INDEX,
)

_C_M_PER_S = constants.c.to_value("m/s")


def primary_beam(theta_rad: npt.ArrayLike, freqs_hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Beam attenuation (…, channels) for angles θ (…) and frequencies, formula above.

    At a = ½ the expression is 0/0; its limit (π/4)⁴ is used there.
    """
    theta = np.asarray(theta_rad, dtype=np.float64)[..., np.newaxis]
    wavelength = _C_M_PER_S / np.asarray(freqs_hz, dtype=np.float64)
    a = 1.2 * theta * DISH_DIAMETER_M / wavelength
    denominator = 1.0 - 4.0 * a**2
    near_pole = np.abs(denominator) < 1e-9
    ratio = np.where(
        near_pole, np.pi / 4, np.cos(np.pi * a) / np.where(near_pole, 1.0, denominator)
    )
    return np.asarray(ratio**4, dtype=np.float64)


def calibrator_model(
    flux_jy: float,
    freqs_hz: npt.NDArray[np.float64],
    source_app_ra_rad: npt.NDArray[np.float64],
    source_app_dec_rad: npt.NDArray[np.float64],
    pointing_app_ra_rad: npt.NDArray[np.float64],
    pointing_dec_rad: float,
) -> npt.NDArray[np.float64]:
    """Model amplitude (integrations, channels) for a source tracked at the phase centre."""
    theta = angular_separation(
        source_app_ra_rad, source_app_dec_rad, pointing_app_ra_rad, pointing_dec_rad
    )
    spectrum = flux_jy * (freqs_hz / MODEL_REFERENCE_FREQUENCY_HZ) ** MODEL_SPECTRAL_INDEX
    return spectrum[np.newaxis, :] * primary_beam(theta, freqs_hz)
