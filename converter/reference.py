"""The reference conversion: the straightforward pyuvdata path (the oracle, and the
baseline of ``benchmarks/converter_vs_reference.py``).

Read every subband file with pyuvdata, concatenate along frequency, sort the channels
ascending, tell pyuvdata what the data are really phased to, phase to a J2000 centre with
``UVData.phase`` and write the MS with ``UVData.write_ms``. It holds the whole dump in
memory and is slow; that is the point of comparison. It shares no code with
:func:`converter.convert_group` beyond pyuvdata and astropy themselves.

"Really phased to": the correlator phases each integration to the meridian point
(HA = 0, apparent Dec = pointing dec) at its own time, but its files say
``phase_type = "drift"``, which pyuvdata reads as *unprojected* (phased to zenith), and
its float32 ``uvw_array`` is too coarse for a 1e-5 comparison. So the reference replaces
the uvw by the meridian uvw computed from the antenna positions (float64) and marks the
rows as phased to that drift-scan position; ``UVData.phase`` then takes the old w from
``uvw_array``, as it does for any projected data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import FK5, SkyCoord
from pyuvdata import UVData
from pyuvdata.utils.phasing import calc_uvw, transform_app_to_icrs


def read_concatenated(files: Sequence[Path]) -> UVData:
    """All subbands in one UVData, channels ascending, exactly as the files say."""
    parts = []
    for path in sorted(files):
        part = UVData()
        # pyuvdata's check rejects the correlator's float32 uvw_array: cast, then check.
        part.read(str(path), file_type="uvh5", run_check=False)
        part.uvw_array = part.uvw_array.astype(np.float64)
        parts.append(part)
    uvd = parts[0] if len(parts) == 1 else parts[0].fast_concat(parts[1:], axis="freq")
    uvd.reorder_freqs(channel_order="freq")
    return uvd


def declare_meridian_phasing(uvd: UVData) -> None:
    """Mark every row as phased to the meridian at its own time (see module docstring)."""
    dec = float(uvd.extra_keywords["phase_center_dec"])
    lat = float(uvd.telescope.location.lat.rad)
    uvd.uvw_array = calc_uvw(
        app_ra=uvd.lst_array,
        app_dec=np.full(uvd.Nblts, dec),
        lst_array=uvd.lst_array,
        use_ant_pos=True,
        antenna_positions=uvd.telescope.antenna_positions,
        antenna_numbers=uvd.telescope.antenna_numbers,
        ant_1_array=uvd.ant_1_array,
        ant_2_array=uvd.ant_2_array,
        telescope_lat=lat,
        telescope_lon=float(uvd.telescope.location.lon.rad),
    )
    # The meridian at a fixed dec is a fixed (az, el): a drift scan in pyuvdata's terms.
    azimuth = 0.0 if dec > lat else np.pi
    elevation = np.pi / 2 - abs(lat - dec)
    cat_id = uvd._add_phase_center(
        "meridian", cat_type="driftscan", cat_lon=azimuth, cat_lat=elevation, cat_frame="altaz"
    )
    uvd.phase_center_id_array[:] = cat_id
    uvd.phase_center_app_ra = uvd.lst_array.copy()
    uvd.phase_center_app_dec = np.full(uvd.Nblts, dec)
    uvd.phase_center_frame_pa = np.zeros(uvd.Nblts)
    uvd._clear_unused_phase_centers()


def meridian_j2000(uvd: UVData) -> tuple[float, float]:
    """J2000 (RA, Dec) in radians of the meridian at the dump's mid-time, via pyuvdata."""
    times, index = np.unique(uvd.time_array, return_index=True)
    mid = 0.5 * (times[0] + times[-1])
    lst_mid = np.interp(mid, times, uvd.lst_array[index])
    ra, dec = transform_app_to_icrs(
        time_array=np.array([mid]),
        app_ra=np.array([lst_mid]),
        app_dec=np.array([float(uvd.extra_keywords["phase_center_dec"])]),
        telescope_loc=uvd.telescope.location,
    )
    icrs = SkyCoord(np.atleast_1d(ra)[0] * u.rad, np.atleast_1d(dec)[0] * u.rad, frame="icrs")
    j2000 = icrs.transform_to(FK5(equinox="J2000"))
    return float(j2000.ra.rad), float(j2000.dec.rad)


def convert_with_pyuvdata(
    files: Sequence[Path],
    output: Path,
    *,
    ra_rad: float | None = None,
    dec_rad: float | None = None,
    fsync: bool = True,
) -> dict[str, float]:
    """Convert like the straightforward pyuvdata path; return seconds per stage.

    Without ``ra_rad``/``dec_rad`` the centre is the meridian at the mid-time.
    """
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    uvd = read_concatenated(files)
    seconds["read_concat"] = time.perf_counter() - start
    mark = time.perf_counter()
    declare_meridian_phasing(uvd)
    if ra_rad is None or dec_rad is None:
        ra_rad, dec_rad = meridian_j2000(uvd)
    uvd.phase(lon=ra_rad, lat=dec_rad, epoch="J2000", phase_frame="fk5", cat_name="reference")
    seconds["phase"] = time.perf_counter() - mark
    mark = time.perf_counter()
    uvd.write_ms(str(output), clobber=True)
    seconds["write_ms"] = time.perf_counter() - mark
    if fsync:
        mark = time.perf_counter()
        for directory, _, names in os.walk(output, topdown=False):
            for name in [*names, "."]:
                fd = os.open(Path(directory) / name, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        seconds["fsync"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - start
    return seconds
