"""Shared simulated dumps for the converter tests (small: six antennas, 48 channels).

Each fixture simulates once per session; tests convert into their own ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import PointSource, SimulationConfig, SimulationResult, simulate

N_ANTENNAS = 6
FLUX_JY = 2.5  # of the offset source
#: Where the offset source sits relative to the meridian at the dump's mid-time.
OFFSET_RA_DEG = 1.5
OFFSET_DEC_DEG = 0.8


def _simulate(tmp_path_factory: pytest.TempPathFactory, name: str, **config) -> SimulationResult:
    out = tmp_path_factory.mktemp(name)
    return simulate(
        out / "incoming",
        SimulationConfig(n_antennas=N_ANTENNAS, seed=11, **config),
        truth_path=out / "truth.json",
    )


@pytest.fixture(scope="session")
def meridian_dump(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """One complete dump with the simulator's default source: the meridian at mid-time."""
    return _simulate(tmp_path_factory, "meridian")


@pytest.fixture(scope="session")
def offset_dump(
    tmp_path_factory: pytest.TempPathFactory, meridian_dump: SimulationResult
) -> SimulationResult:
    """The same observation with the source well away from the meridian (--ra/--dec)."""
    truth = meridian_dump.dumps[0]
    source = PointSource(
        truth.meridian_ra_deg + OFFSET_RA_DEG, truth.meridian_dec_deg + OFFSET_DEC_DEG, FLUX_JY
    )
    return _simulate(tmp_path_factory, "offset", sources=(source,))


@pytest.fixture(scope="session")
def noisy_dump(
    tmp_path_factory: pytest.TempPathFactory, meridian_dump: SimulationResult
) -> SimulationResult:
    """Two sources and noise: visibilities that vary in amplitude and phase (oracle)."""
    truth = meridian_dump.dumps[0]
    ra, dec = truth.meridian_ra_deg, truth.meridian_dec_deg
    sources = (PointSource(ra, dec, 3.0), PointSource(ra - 1.0, dec + 0.5, 1.5))
    return _simulate(tmp_path_factory, "noisy", sources=sources, noise_jy=0.3)


@pytest.fixture(scope="session")
def gappy_dump(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """A dump without sb00 (the band edge) and sb07 (inside the band)."""
    return _simulate(tmp_path_factory, "gappy", missing=((0, 0), (0, 7)))


def dump_files(result: SimulationResult, dump: int = 0) -> list[Path]:
    return [result.dumps[dump].files[sb] for sb in sorted(result.dumps[dump].files)]
