"""Fixtures of the producer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator import SimulationResult
from tests.producer.helpers import ProducerThread, simulate_into, small_config


@pytest.fixture(scope="session", autouse=True)
def _offline_iers() -> Iterator[None]:
    """The simulator computes LSTs; offline, astropy must not insist on fresh IERS tables.

    Observation times in these tests are recent (the subbands topic refuses Kafka
    timestamps more than 14 days old), beyond the predictions astropy ships with.
    """
    from astropy.utils import iers

    with (
        iers.conf.set_temp("auto_download", False),
        iers.conf.set_temp("auto_max_age", None),
        iers.conf.set_temp("iers_degraded_accuracy", "warn"),
    ):
        yield


@pytest.fixture(scope="session")
def small_dump(tmp_path_factory: pytest.TempPathFactory, _offline_iers: None) -> SimulationResult:
    """One simulated dump with subbands 0 and 15 (read-only: copy before changing)."""
    return simulate_into(
        tmp_path_factory.mktemp("small-dump") / "sim", small_config(subbands=(0, 15))
    )


@pytest.fixture(autouse=True)
def _forget_producer_threads() -> Iterator[None]:
    """Each test watches only its own producer threads for crashes."""
    ProducerThread.running.clear()
    yield
    ProducerThread.running.clear()
