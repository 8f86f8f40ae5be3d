"""Fixtures for the simulator tests: the station table and one shared small simulation."""

from __future__ import annotations

from pathlib import Path

import pytest

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
