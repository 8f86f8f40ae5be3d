"""Simulator: writes DSA-110 dumps exactly in the correlator's layout, with a truth file.

Public API::

    from simulator import SimulationConfig, PointSource, simulate
    result = simulate(out_dir, SimulationConfig(n_antennas=6, n_dumps=2))
    result.files, result.dumps[0].files[0], result.truth_path

:func:`write_live` writes the same files with the correlator's pauses;
:class:`CorrelatorFileWriter` writes one file integration by integration.

Names are imported on first use, so that ``dsa110-stream --help`` (which imports
``simulator.cli``) does not load numpy, astropy and pyuvdata.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.config import DEFAULT_START, FileRef, SimulationConfig
    from simulator.run import simulate, write_live
    from simulator.sky import PointSource
    from simulator.stations import (
        Station,
        StationTableError,
        default_station_table,
        read_station_table,
    )
    from simulator.truth import DumpTruth, FileTruth, SimulationResult, load_truth
    from simulator.uvh5_writer import CorrelatorFileWriter, FileHeader

_HOMES = {
    "DEFAULT_START": "simulator.config",
    "FileRef": "simulator.config",
    "SimulationConfig": "simulator.config",
    "simulate": "simulator.run",
    "write_live": "simulator.run",
    "PointSource": "simulator.sky",
    "Station": "simulator.stations",
    "StationTableError": "simulator.stations",
    "default_station_table": "simulator.stations",
    "read_station_table": "simulator.stations",
    "DumpTruth": "simulator.truth",
    "FileTruth": "simulator.truth",
    "SimulationResult": "simulator.truth",
    "load_truth": "simulator.truth",
    "CorrelatorFileWriter": "simulator.uvh5_writer",
    "FileHeader": "simulator.uvh5_writer",
}

__all__ = [
    "DEFAULT_START",
    "CorrelatorFileWriter",
    "DumpTruth",
    "FileHeader",
    "FileRef",
    "FileTruth",
    "PointSource",
    "SimulationConfig",
    "SimulationResult",
    "Station",
    "StationTableError",
    "default_station_table",
    "load_truth",
    "read_station_table",
    "simulate",
    "write_live",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
