"""Sky model and the coordinate conversions it needs, done by pyuvdata's astrometry.

Everything goes through :mod:`pyuvdata.utils` (LST, ICRS ↔ apparent) with its default
libraries, so that a pyuvdata-based reader recomputes exactly the same apparent
positions when it re-phases the data to a source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pyuvdata.utils.phasing import calc_app_coords, transform_app_to_icrs
from pyuvdata.utils.times import get_lst_for_time

from converter.astrometry import offline_earth_orientation
from simulator.telescope import site_location


@dataclass(frozen=True)
class PointSource:
    """An unpolarised point source: J2000/ICRS position and flux (Jy in XX and in YY)."""

    ra_deg: float
    dec_deg: float
    flux_jy: float


def apparent_lst(times_jd: npt.ArrayLike) -> npt.NDArray:
    """Local apparent sidereal time (rad) at the array centre."""
    jd = np.atleast_1d(np.asarray(times_jd, float))
    with offline_earth_orientation():
        return np.asarray(get_lst_for_time(jd, telescope_loc=site_location()))


def apparent_position(
    source: PointSource, times_jd: npt.NDArray, lst_rad: npt.NDArray
) -> tuple[npt.NDArray, npt.NDArray]:
    """Apparent (topocentric, of-date) RA and Dec (rad) of a source at each time."""
    with offline_earth_orientation():
        app_ra, app_dec = calc_app_coords(
            lon_coord=np.deg2rad(source.ra_deg),
            lat_coord=np.deg2rad(source.dec_deg),
            coord_frame="icrs",
            time_array=times_jd,
            lst_array=lst_rad,
            telescope_loc=site_location(),
        )
    return np.asarray(app_ra), np.asarray(app_dec)


def meridian_icrs(time_jd: float, pointing_dec_rad: float) -> tuple[float, float]:
    """J2000/ICRS (RA, Dec) in degrees of the meridian point (HA 0, apparent Dec) at a time."""
    lst = apparent_lst([time_jd])
    with offline_earth_orientation():
        ra, dec = transform_app_to_icrs(
            time_array=np.array([time_jd]),
            app_ra=lst,
            app_dec=np.array([pointing_dec_rad]),
            telescope_loc=site_location(),
        )
    return float(np.rad2deg(np.atleast_1d(ra)[0]) % 360.0), float(np.rad2deg(np.atleast_1d(dec)[0]))
