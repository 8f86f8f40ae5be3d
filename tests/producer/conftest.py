"""Fixtures of the producer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


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
