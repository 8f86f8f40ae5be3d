"""Where the array is, where the data are phased, and the geometry of every row.

The correlator phases each integration to the meridian point (HA = 0, apparent
Dec = pointing dec) at that integration's own time. The MS is phased to one fixed J2000
direction. All of the astrometry is pyuvdata's (apparent LST, ICRS ↔ apparent,
``calc_uvw``) on top of astropy, the same routines its ``UVData.phase`` uses, so that
the oracle in :mod:`converter.reference` checks our use of them rather than a second
implementation of spherical astronomy.

Conventions (pyuvdata's): baseline = ant2 − ant1, and re-phasing from w_old to w_new
multiplies a visibility by ``exp(−2πi (w_new − w_old) f / c)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import structlog
from astropy import units as u
from astropy.coordinates import FK5, Angle, EarthLocation, SkyCoord
from astropy.utils import iers
from pyuvdata.utils.phasing import (
    calc_app_coords,
    calc_frame_pos_angle,
    calc_uvw,
    transform_app_to_icrs,
)
from pyuvdata.utils.times import get_lst_for_time

from converter.errors import InputValidationError
from converter.inputs import GroupInputs
from converter.stations import itrf_xyz
from converter.telescope import (
    OVRO_MMA_ALTITUDE_M,
    OVRO_MMA_LATITUDE_RAD,
    OVRO_MMA_LONGITUDE_RAD,
    SITE_REJECT_DISTANCE_M,
    SITE_WARN_DISTANCE_M,
)

log = structlog.get_logger(__name__)

#: The MS phase centre's frame: FK5 at equinox J2000 (CASA's "J2000").
J2000 = FK5(equinox="J2000")
_J2000_EPOCH = 2000.0


@dataclass(frozen=True)
class PhaseCenter:
    """The fixed J2000 direction the MS is phased to, and the FIELD name it gets."""

    ra_rad: float
    dec_rad: float
    name: str
    is_meridian: bool


@dataclass(frozen=True)
class RowGeometry:
    """Per-row geometry, computed once per group and shared by every subband.

    ``uvw_m`` points at the new centre in the J2000 frame (pyuvdata convention, float64);
    ``delta_w_m`` is w(new centre) − w(meridian at the row's time), the path difference
    that the re-phasing removes.
    """

    uvw_m: npt.NDArray[np.float64]  # (Nblts, 3)
    delta_w_m: npt.NDArray[np.float64]  # (Nblts,)
    time_index: npt.NDArray[np.intp]  # (Nblts,) index into times_jd
    times_jd: npt.NDArray[np.float64]  # (Ntimes,) unique integration centres
    lst_rad: npt.NDArray[np.float64]  # (Ntimes,) apparent LST
    center_app_ra_rad: npt.NDArray[np.float64]  # (Ntimes,)
    center_app_dec_rad: npt.NDArray[np.float64]  # (Ntimes,)


@contextmanager
def offline_earth_orientation() -> Iterator[None]:
    """Use the Earth-orientation (UT1−UTC) tables installed with astropy; never download.

    The service runs next to the correlator, often without internet. astropy's defaults
    would try to download a fresh IERS-A table and, failing that, refuse any time more
    than 30 days past the installed predictions, i.e. today's data. The installed
    ``astropy-iers-data`` predictions are good to a few tens of ms for a year (< 0.5" of
    sky); past their end astropy warns and extrapolates instead of failing the
    conversion. Keep the package current with the image. Scoped to the converter's calls.
    """
    with (
        iers.conf.set_temp("auto_download", False),
        iers.conf.set_temp("auto_max_age", None),
        iers.conf.set_temp("iers_degraded_accuracy", "warn"),
    ):
        yield


def array_location(inputs: GroupInputs) -> EarthLocation:
    """The array centre from the files' header, checked against CASA's OVRO_MMA."""
    ref = inputs.reference
    location = EarthLocation.from_geodetic(
        lon=ref.longitude_deg * u.deg, lat=ref.latitude_deg * u.deg, height=ref.altitude_m * u.m
    )
    known = EarthLocation.from_geodetic(
        lon=OVRO_MMA_LONGITUDE_RAD * u.rad,
        lat=OVRO_MMA_LATITUDE_RAD * u.rad,
        height=OVRO_MMA_ALTITUDE_M * u.m,
    )
    distance = float(np.linalg.norm(itrf_xyz(location) - itrf_xyz(known)))
    if distance > SITE_REJECT_DISTANCE_M:
        raise InputValidationError(
            ref.path,
            "Header/latitude, longitude, altitude",
            f"({ref.latitude_deg:.6f}°, {ref.longitude_deg:.6f}°, {ref.altitude_m:.1f} m) is "
            f"{distance / 1e3:.1f} km from OVRO_MMA, where DSA-110 is",
        )
    if distance > SITE_WARN_DISTANCE_M:
        log.warning("array position differs from OVRO_MMA", distance_m=round(distance, 1))
    return location


def antenna_itrf(location: EarthLocation, relative_m: npt.NDArray[np.float64]) -> npt.NDArray:
    """Absolute ITRF positions (m) from positions relative to the array centre."""
    return relative_m + itrf_xyz(location)[np.newaxis, :]


def meridian_center(
    mid_time_jd: float, pointing_dec_rad: float, location: EarthLocation
) -> tuple[float, float]:
    """J2000 (RA, Dec) in radians of the meridian point (HA 0, apparent Dec) at a time.

    RA = apparent LST at that time and Dec = pointing dec, both apparent (of date),
    converted to ICRS by pyuvdata and from ICRS to FK5 J2000 by astropy.
    """
    times = np.array([mid_time_jd])
    lst = np.asarray(get_lst_for_time(times, telescope_loc=location))
    ra_icrs, dec_icrs = transform_app_to_icrs(
        time_array=times, app_ra=lst, app_dec=np.array([pointing_dec_rad]), telescope_loc=location
    )
    icrs = SkyCoord(
        ra=np.atleast_1d(ra_icrs)[0] * u.rad, dec=np.atleast_1d(dec_icrs)[0] * u.rad, frame="icrs"
    )
    j2000 = icrs.transform_to(J2000)
    return float(j2000.ra.rad), float(j2000.dec.rad)


def choose_phase_center(
    inputs: GroupInputs, location: EarthLocation, ra: Angle | None, dec: Angle | None
) -> PhaseCenter:
    """The user's J2000 (ra, dec) if given, else the meridian at the dump's mid-time."""
    if ra is not None and dec is not None:
        ra_rad = float(Angle(ra).wrap_at(360 * u.deg).rad)
        dec_rad = float(Angle(dec).rad)
        return PhaseCenter(ra_rad, dec_rad, _iau_name(ra_rad, dec_rad), is_meridian=False)
    ra_rad, dec_rad = meridian_center(
        inputs.mid_time_jd, inputs.reference.pointing_dec_rad, location
    )
    stamp = inputs.group_id.replace("-", "").replace(":", "")
    return PhaseCenter(ra_rad, dec_rad, f"meridian_{stamp}", is_meridian=True)


def row_geometry(
    inputs: GroupInputs,
    location: EarthLocation,
    center: PhaseCenter,
    positions_m: npt.NDArray[np.float64],
) -> RowGeometry:
    """uvw toward ``center`` and the w change from the meridian, for every row.

    ``positions_m`` (relative ECEF) give the new geometry; the old w uses the positions
    in the files, because those describe the geometry the correlator phased with.
    """
    ref = inputs.reference
    times, time_index = np.unique(ref.time_jd, return_inverse=True)
    lst, app_ra, app_dec, frame_pa = _apparent_center(times, location, center)
    lat, lon = float(location.lat.rad), float(location.lon.rad)
    common = {
        "lst_array": lst[time_index],
        "use_ant_pos": True,
        "antenna_numbers": ref.antenna_numbers,
        "ant_1_array": ref.ant_1,
        "ant_2_array": ref.ant_2,
        "telescope_lat": lat,
        "telescope_lon": lon,
    }
    uvw_new = calc_uvw(
        app_ra=app_ra[time_index],
        app_dec=app_dec[time_index],
        frame_pa=frame_pa[time_index],
        antenna_positions=positions_m,
        **common,
    )
    uvw_meridian = calc_uvw(
        app_ra=lst[time_index],
        app_dec=np.full(time_index.size, ref.pointing_dec_rad),
        antenna_positions=ref.antenna_positions_m,
        **common,
    )
    return RowGeometry(
        uvw_m=np.asarray(uvw_new, dtype=np.float64),
        delta_w_m=np.asarray(uvw_new[:, 2] - uvw_meridian[:, 2], dtype=np.float64),
        time_index=time_index,
        times_jd=times,
        lst_rad=lst,
        center_app_ra_rad=app_ra,
        center_app_dec_rad=app_dec,
    )


def _apparent_center(
    times_jd: npt.NDArray[np.float64], location: EarthLocation, center: PhaseCenter
) -> tuple[npt.NDArray[np.float64], ...]:
    """Apparent LST, the centre's apparent RA and Dec, and the J2000 frame's position
    angle, at each time."""
    lst = np.asarray(get_lst_for_time(times_jd, telescope_loc=location), dtype=np.float64)
    app_ra, app_dec = calc_app_coords(
        lon_coord=center.ra_rad,
        lat_coord=center.dec_rad,
        coord_frame="fk5",
        coord_epoch=_J2000_EPOCH,
        time_array=times_jd,
        lst_array=lst,
        telescope_loc=location,
    )
    app_ra = np.asarray(app_ra, dtype=np.float64)
    app_dec = np.asarray(app_dec, dtype=np.float64)
    frame_pa = np.asarray(
        calc_frame_pos_angle(
            time_array=times_jd,
            app_ra=app_ra,
            app_dec=app_dec,
            telescope_loc=location,
            ref_frame="fk5",
            ref_epoch=_J2000_EPOCH,
        ),
        dtype=np.float64,
    )
    return lst, app_ra, app_dec, frame_pa


def preload_astrometry() -> None:
    """Compute a made-up field centre at OVRO once.

    A fresh process's first astropy and pyuvdata calls (frame graph, leap seconds,
    units) take ~0.3 s more than later ones; a conversion pays them here, in the
    background while its inputs are surveyed, not in its geometry stage.
    """
    location = EarthLocation.from_geodetic(
        lon=OVRO_MMA_LONGITUDE_RAD * u.rad,
        lat=OVRO_MMA_LATITUDE_RAD * u.rad,
        height=OVRO_MMA_ALTITUDE_M * u.m,
    )
    itrf_xyz(location)
    times = np.array([2460676.5])  # any time inside the installed IERS tables
    ra_rad, dec_rad = meridian_center(float(times[0]), OVRO_MMA_LATITUDE_RAD, location)
    _apparent_center(times, location, PhaseCenter(ra_rad, dec_rad, "", is_meridian=True))


def _iau_name(ra_rad: float, dec_rad: float) -> str:
    """``Jhhmm+ddmm``-style field name for a user-chosen J2000 centre."""
    ra = Angle(ra_rad * u.rad).to_string(unit=u.hour, sep="", precision=0, pad=True)
    dec = Angle(dec_rad * u.rad).to_string(
        unit=u.deg, sep="", precision=0, alwayssign=True, pad=True
    )
    return f"J{ra}{dec}"
