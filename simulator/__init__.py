"""Simulator: writes DSA-110 dumps exactly in the correlator's layout, with a truth file.

Public API::

    from simulator import SimulationConfig, PointSource, simulate
    result = simulate(out_dir, SimulationConfig(n_antennas=6, n_dumps=2))
    result.files, result.dumps[0].files[0], result.truth_path

:func:`write_live` writes the same files with the correlator's pauses;
:class:`CorrelatorFileWriter` writes one file integration by integration.
"""

from simulator.config import DEFAULT_START, FileRef, SimulationConfig
from simulator.run import simulate, write_live
from simulator.sky import PointSource
from simulator.stations import Station, StationTableError, default_station_table, read_station_table
from simulator.truth import DumpTruth, FileTruth, SimulationResult, load_truth
from simulator.uvh5_writer import CorrelatorFileWriter, FileHeader

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
