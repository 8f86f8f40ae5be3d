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

_HEADER_CELL = "Station Number"
_STATION_PREFIX = "DSA-"


class StationTableError(ConversionError):
    """The station table is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Station:
    """One station: its number (DSA-042 → 42) and WGS84 geodetic coordinates.

    ``elevation_m`` is ``None`` where the table leaves it blank (DSA-117 today). In the
    correlator's files the antenna number is ``number - 1`` and the name ``str(number)``.
    """

    number: int
    name: str
    lat_deg: float
    lon_deg: float
    elevation_m: float | None

    @property
    def antenna_number(self) -> int:
        return self.number - 1

    @property
    def antenna_name(self) -> str:
        return str(self.number)


def read_station_table(path: str | Path) -> list[Station]:
    """Every station row of the table, sorted by station number.

    The one reader of the table in the project (converter ``--antenna-positions`` and
    the simulator); rows above the header row are free-form notes.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise StationTableError(f"cannot read station table {path}: {exc}") from exc
    rows = [[cell.strip() for cell in row] for row in csv.reader(text.splitlines())]
    header_index = next((i for i, row in enumerate(rows) if _HEADER_CELL in row), None)
    if header_index is None:
        raise StationTableError(f"{path}: no header row containing {_HEADER_CELL!r}")
    stations = [
        _parse_row(row, path)
        for row in rows[header_index + 1 :]
        if any(cell.startswith(_STATION_PREFIX) for cell in row)
    ]
    if not stations:
        raise StationTableError(f"{path}: no DSA-NNN station rows after the header row")
    numbers = [s.number for s in stations]
    if len(set(numbers)) != len(numbers):
        raise StationTableError(f"{path}: duplicate station numbers")
    return sorted(stations, key=lambda s: s.number)


def _parse_row(row: list[str], path: Path) -> Station:
    # Columns after the station name: latitude, longitude, elevation (may be blank).
    start = next(i for i, cell in enumerate(row) if cell.startswith(_STATION_PREFIX))
    name, *values = row[start : start + 4]
    values += [""] * (3 - len(values))
    try:
        number = int(name.removeprefix(_STATION_PREFIX))
        lat, lon = float(values[0]), float(values[1])
        elevation = float(values[2]) if values[2] else None
    except ValueError as exc:
        raise StationTableError(f"{path}: bad station row {row!r}: {exc}") from exc
    return Station(number=number, name=name, lat_deg=lat, lon_deg=lon, elevation_m=elevation)


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
    stations = {s.antenna_name: s for s in read_station_table(path)}
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
