"""The MAIN table's columns and how they are stored on disk (storage managers, tiles).

The bulk columns (DATA, FLAG and, when asked for, MODEL_DATA and CORRECTED_DATA) are
fixed-shape [Npols, Nchannels] cells in ``TiledColumnStMan`` hypercubes. Their tiles are
[Npols, channels_per_subband, TILE_ROWS]: one tile never mixes subbands, so a CASA task
that selects channels of one subband touches only its own tiles, while a row-ordered
reader (tclean, WSClean, gaincal) needs Nchannels/48 = 16 tiles at a time (~9 MB for
DATA). The converter writes whole blocks of rows that are a multiple of TILE_ROWS, so
every tile is written once, in file order, and never read back: writing a subband at a
time instead would make casacore zero-fill the whole column first and then read each
tile back before filling it (measured: the written volume doubles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from casacore import tables

#: Rows per tile of the bulk columns. A DATA tile is then 2 × 48 × 768 × 8 B = 590 KB.
TILE_ROWS = 768
#: Rows per tile of the small per-row array columns (UVW, WEIGHT, SIGMA).
SMALL_TILE_ROWS = 8192
FIXED_SHAPE = 4  # casacore ColumnDesc option: every cell has the column's shape

#: Scalar columns that change rarely along the rows: IncrementalStMan stores runs.
_INCREMENTAL = (
    "ARRAY_ID",
    "DATA_DESC_ID",
    "EXPOSURE",
    "FEED1",
    "FEED2",
    "FIELD_ID",
    "FLAG_ROW",
    "INTERVAL",
    "OBSERVATION_ID",
    "PROCESSOR_ID",
    "SCAN_NUMBER",
    "STATE_ID",
    "TIME",
    "TIME_CENTROID",
)


def tile_rows(n_rows: int) -> int:
    """TILE_ROWS, or fewer for a small table (a tile never needs more rows than exist)."""
    return int(min(TILE_ROWS, max(8, -(-n_rows // 8) * 8)))


@dataclass(frozen=True)
class MainTableShape:
    """Sizes that fix the MAIN table's layout."""

    n_rows: int
    n_channels: int
    n_pols: int
    channels_per_tile: int
    model_data: bool = False
    corrected_data: bool = False

    @property
    def tile_rows(self) -> int:
        return tile_rows(self.n_rows)

    @property
    def bulk_columns(self) -> tuple[str, ...]:
        columns = ["DATA"]
        if self.model_data:
            columns.append("MODEL_DATA")
        if self.corrected_data:
            columns.append("CORRECTED_DATA")
        return tuple(columns)


def main_table_description(shape: MainTableShape) -> tuple[dict[str, Any], dict[str, Any]]:
    """(table description, data manager info) for ``tables.default_ms``."""
    desc = tables.required_ms_desc("MAIN")
    cell = [shape.n_channels, shape.n_pols]  # python-casacore takes shapes in C order
    small_rows = int(min(SMALL_TILE_ROWS, shape.n_rows))
    for name in _INCREMENTAL:
        desc[name].update(dataManagerType="IncrementalStMan", dataManagerGroup=f"ISM_{name}")
    for name in ("ANTENNA1", "ANTENNA2"):
        desc[name].update(dataManagerType="StandardStMan", dataManagerGroup="SSM")
    _fixed(desc["UVW"], [3], "TiledUVW")
    _fixed(desc["WEIGHT"], [shape.n_pols], "TiledWeight")
    _fixed(desc["SIGMA"], [shape.n_pols], "TiledSigma")
    _fixed(desc["FLAG"], cell, "TiledFlag")
    desc["FLAG_CATEGORY"].update(
        dataManagerType="StandardStMan",
        dataManagerGroup="SSM",
        keywords={"CATEGORY": np.array(["FLAG_CMD", "ORIGINAL", "USER"])},
    )
    for name in shape.bulk_columns:
        column = tables.makearrcoldesc(
            name,
            0j,
            valuetype="complex",
            shape=cell,
            options=FIXED_SHAPE,
            datamanagertype="TiledColumnStMan",
            datamanagergroup=f"Tiled{name.title().replace('_', '')}",
            comment=f"{name} column",
        )
        desc.update(tables.maketabdesc(column))
    bulk_tile = np.array([shape.n_pols, shape.channels_per_tile, shape.tile_rows], np.int32)
    group_spec = {
        "TiledUVW": {"DEFAULTTILESHAPE": np.array([3, small_rows], np.int32)},
        "TiledWeight": {"DEFAULTTILESHAPE": np.array([shape.n_pols, small_rows], np.int32)},
        "TiledSigma": {"DEFAULTTILESHAPE": np.array([shape.n_pols, small_rows], np.int32)},
        "TiledFlag": {"DEFAULTTILESHAPE": bulk_tile},
    }
    for name in shape.bulk_columns:
        group_spec[f"Tiled{name.title().replace('_', '')}"] = {"DEFAULTTILESHAPE": bulk_tile}
    return desc, tables.makedminfo(desc, group_spec)


def _fixed(column: dict[str, Any], cell_shape: list[int], group: str) -> None:
    column.update(
        shape=np.array(cell_shape, dtype=np.int32),  # C order, as the description says
        ndim=len(cell_shape),
        option=FIXED_SHAPE,
        dataManagerType="TiledColumnStMan",
        dataManagerGroup=group,
    )
