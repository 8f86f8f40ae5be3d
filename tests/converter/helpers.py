"""Reading a converted MS back for the tests (python-casacore, no CASA)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from casacore import tables


@dataclass(frozen=True)
class Coherence:
    """Over all unflagged cross-correlations: |mean(V/|V|)|, its phase, mean |V|."""

    magnitude: float
    phase_deg: float
    amplitude: float


def read_column(ms: Path, column: str, subtable: str | None = None) -> np.ndarray:
    path = ms if subtable is None else ms / subtable
    with tables.table(str(path), ack=False) as table:
        return table.getcol(column)


def coherence(ms: Path, column: str = "DATA") -> Coherence:
    cross = read_column(ms, "ANTENNA1") != read_column(ms, "ANTENNA2")
    return uvdata_coherence(read_column(ms, column), read_column(ms, "FLAG"), cross)


def uvdata_coherence(data: np.ndarray, flags: np.ndarray, cross: np.ndarray) -> Coherence:
    """The same figures from arrays (rows, channels, pols) and a cross-correlation mask."""
    values = data[cross][~flags[cross]]
    mean = (values / np.abs(values)).mean()
    return Coherence(
        float(np.abs(mean)), float(np.degrees(np.angle(mean))), float(np.abs(values).mean())
    )
