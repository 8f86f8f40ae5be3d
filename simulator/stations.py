"""Where the DSA-110 station table is: ``--stations``, ``DSA110_STATION_TABLE``, ../shared/data.

The table is a data file kept outside this repository (DOMAIN.md §2). It is read by the
converter's reader, the one in the project, re-exported here for the simulator.
"""

from __future__ import annotations

import os
from pathlib import Path

from converter.stations import Station as Station
from converter.stations import StationTableError as StationTableError
from converter.stations import read_station_table as read_station_table

#: Environment variable naming the station table when ``--stations`` is not given.
STATION_TABLE_ENV = "DSA110_STATION_TABLE"
STATION_TABLE_NAME = "DSA110_Station_Coordinates.csv"


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
