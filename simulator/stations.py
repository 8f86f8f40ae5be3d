"""The DSA-110 station table: WGS84 coordinates of stations DSA-001..DSA-117.

The table is a data file kept outside this repository (DOMAIN.md §2); this module reads
it and finds it. Its first rows are free-form notes; the header row is the one whose
second cell is ``Station Number`` (line 6 in the current file).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable naming the station table when ``--stations`` is not given.
STATION_TABLE_ENV = "DSA110_STATION_TABLE"
STATION_TABLE_NAME = "DSA110_Station_Coordinates.csv"
_HEADER_FIRST_CELL = "Station Number"
_STATION_PREFIX = "DSA-"


class StationTableError(ValueError):
    """The station table is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Station:
    """One station: its number (DSA-042 → 42) and WGS84 geodetic coordinates.

    ``elevation_m`` is ``None`` where the table leaves it blank (DSA-117 today).
    In the correlator's files the antenna number is ``number - 1`` and the antenna name
    is ``str(number)``.
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
    """Read every station row of the table, sorted by station number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise StationTableError(f"cannot read station table {path}: {exc}") from exc
    rows = [[cell.strip() for cell in row] for row in csv.reader(text.splitlines())]
    header_index = _find_header(rows, path)
    stations = [_parse_row(row, path) for row in rows[header_index + 1 :] if _is_station(row)]
    if not stations:
        raise StationTableError(f"{path}: no DSA-NNN station rows after the header row")
    numbers = [s.number for s in stations]
    if len(set(numbers)) != len(numbers):
        raise StationTableError(f"{path}: duplicate station numbers")
    return sorted(stations, key=lambda s: s.number)


def default_station_table(repo_root: Path | None = None) -> Path:
    """Where the station table is when the user did not say: env var, then ../shared/data.

    Raises :class:`StationTableError` naming both places when neither holds the file.
    """
    from_env = os.environ.get(STATION_TABLE_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise StationTableError(f"{STATION_TABLE_ENV}={from_env} is not a file")
        return path
    root = repo_root if repo_root is not None else Path(__file__).resolve().parents[1]
    candidate = root.parent / "shared" / "data" / STATION_TABLE_NAME
    if candidate.is_file():
        return candidate
    raise StationTableError(
        f"no station table: pass --stations PATH/{STATION_TABLE_NAME} or set "
        f"{STATION_TABLE_ENV} (looked for {candidate})"
    )


def _find_header(rows: list[list[str]], path: Path) -> int:
    for index, row in enumerate(rows):
        if _HEADER_FIRST_CELL in row:
            return index
    raise StationTableError(f"{path}: no header row containing {_HEADER_FIRST_CELL!r}")


def _is_station(row: list[str]) -> bool:
    return any(cell.startswith(_STATION_PREFIX) for cell in row)


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
