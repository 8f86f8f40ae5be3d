"""Fixtures for the simulator tests: the station table and one shared small simulation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from pyuvdata import UVData

from simulator import SimulationConfig, SimulationResult, simulate
from simulator.stations import STATION_TABLE_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def station_table() -> Path:
    """The station table beside the repository (never copied into it)."""
    path = REPO_ROOT.parent / "shared" / "data" / STATION_TABLE_NAME
    if not path.is_file():
        pytest.fail(f"station table not found at {path}")
    return path


@pytest.fixture(scope="session")
def small_config(station_table: Path) -> SimulationConfig:
    return SimulationConfig(n_antennas=5, n_dumps=2, station_table=station_table, seed=7)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory, small_config) -> SimulationResult:
    """Two complete dumps of five antennas, all 16 subbands, the default source."""
    return simulate(tmp_path_factory.mktemp("small"), small_config)


def read_uvdata(path: Path) -> UVData:
    """Read a correlator-layout file the way a DSA-110 reader must with pyuvdata 3.2.

    pyuvdata's check rejects the float32 ``uvw_array`` these files carry, so read
    unchecked, cast, and then run the full check.
    """
    uv = UVData.from_file(str(path), file_type="uvh5", run_check=False)
    uv.uvw_array = uv.uvw_array.astype(np.float64)
    with warnings.catch_warnings():
        # pyuvdata takes "drift" uvws to be zenith (ENU) ones; these point at the meridian.
        warnings.filterwarnings("ignore", message="The uvw_array does not match the expected")
        uv.check()
    return uv
