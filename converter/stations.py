"""Antenna positions from the DSA-110 station table (``--antenna-positions``).

The table is a CSV whose first rows are notes; the header row (line 6 today) has the
columns ``Station Number`` (``DSA-001``..), ``Latitude``, ``Longitude`` (degrees, WGS84)
and ``Elevation (meters)``. Station ``DSA-NNN`` is the antenna named ``str(NNN)`` in the
files. The positions in the files can be stale; the prototype always took them from here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import structlog
from astropy import units as u
from astropy.coordinates import EarthLocation

from converter.errors import ConversionError

log = structlog.get_logger(__name__)

_STATION_COLUMN = "Station Number"
_STATION_PREFIX = "DSA-"


@dataclass(frozen=True)
class Station:
    """One row of the station table (WGS84); ``elevation_m`` is None where left blank."""

    number: int
    lat_deg: float
    lon_deg: float
    elevation_m: float | None


def read_station_table(path: Path) -> dict[str, Station]:
    """Rows of the station table by antenna name (``DSA-042`` → ``"42"``)."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except OSError as exc:
        raise ConversionError(f"cannot read the station table {path}: {exc}") from exc
    header_index = next(
        (i for i, row in enumerate(rows) if _STATION_COLUMN in [c.strip() for c in row]), None
    )
    if header_index is None:
        raise ConversionError(f"{path}: no header row with a {_STATION_COLUMN!r} column")
    header = [c.strip() for c in rows[header_index]]
    column = header.index(_STATION_COLUMN)
    stations: dict[str, Station] = {}
    for line, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        cells = [c.strip() for c in row] + [""] * 4
        name = cells[column]
        if not name.startswith(_STATION_PREFIX):
            continue
        try:
            number = int(name.removeprefix(_STATION_PREFIX))
            lat, lon = float(cells[column + 1]), float(cells[column + 2])
            elevation = float(cells[column + 3]) if cells[column + 3] else None
        except ValueError as exc:
            raise ConversionError(f"{path}, line {line}: bad station row {row!r}") from exc
        stations[str(number)] = Station(number, lat, lon, elevation)
    if not stations:
        raise ConversionError(f"{path}: no {_STATION_PREFIX}NNN rows below the header row")
    return stations


def station_positions(
    path: Path,
    antenna_names: tuple[str, ...],
    needed: set[str],
    array_centre: EarthLocation,
) -> npt.NDArray[np.float64]:
    """Relative ECEF positions (m), shape (len(antenna_names), 3), from the station table.

    Antennas in ``needed`` (those with data) must be in the table; others absent from it
    keep a zero position. A station without an elevation (DSA-117 today) is placed at
    the array centre's height, and the choice is logged.
    """
    stations = read_station_table(path)
    absent = sorted(needed - set(stations), key=lambda n: (len(n), n))
    if absent:
        raise ConversionError(
            f"{path}: no station rows for antennas {absent} that have data; "
            "fix the table or convert without --antenna-positions"
        )
    centre_height = float(array_centre.height.to_value(u.m))
    rows = [(i, stations[name]) for i, name in enumerate(antenna_names) if name in stations]
    no_height = [s.number for _, s in rows if s.elevation_m is None]
    if no_height:
        log.warning(
            "station without elevation placed at the array-centre height",
            stations=[f"{_STATION_PREFIX}{n:03d}" for n in no_height],
            height_m=centre_height,
        )
    locations = EarthLocation.from_geodetic(
        lon=[s.lon_deg for _, s in rows] * u.deg,
        lat=[s.lat_deg for _, s in rows] * u.deg,
        height=[centre_height if s.elevation_m is None else s.elevation_m for _, s in rows] * u.m,
    )
    positions = np.zeros((len(antenna_names), 3))
    positions[[i for i, _ in rows]] = itrf_xyz(locations) - itrf_xyz(array_centre)
    return positions


def itrf_xyz(location: EarthLocation) -> npt.NDArray[np.float64]:
    """Geocentric (ITRF) x, y, z in metres, shape (..., 3)."""
    return np.stack(
        [location.x.to_value(u.m), location.y.to_value(u.m), location.z.to_value(u.m)], axis=-1
    )
