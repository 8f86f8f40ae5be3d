"""Session fixtures: the offline CASA environment and a real Kafka broker.

The broker is the project's own (``dsa110_stream.broker``), started once per test session
on free loopback ports. Set ``DSA110_TEST_KAFKA_BOOTSTRAP=host:port`` to run the suite
against an existing cluster instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsa110_stream.casa_env import configure_offline_casa
from dsa110_stream.settings import TopicSettings

# Before any test module can import casatools.
configure_offline_casa()

REPO = Path(__file__).resolve().parents[1]
STATION_TABLE = REPO.parent / "shared" / "data" / "DSA110_Station_Coordinates.csv"


@pytest.fixture(scope="session")
def station_table() -> Path:
    """The DSA-110 station coordinates, read from the shared data folder (not copied)."""
    path = Path(os.environ.get("DSA110_STATION_TABLE", STATION_TABLE))
    if not path.is_file():
        pytest.fail(f"station table not found at {path}: set DSA110_STATION_TABLE")
    return path


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for this test session."""
    external = os.environ.get("DSA110_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    from dsa110_stream.broker.runtime import LocalKafka, free_ports

    port, controller = free_ports(2)
    broker = LocalKafka(
        data_dir=tmp_path_factory.mktemp("kafka"), port=port, controller_port=controller
    )
    bootstrap = broker.start()
    try:
        yield bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_settings() -> TopicSettings:
    """Topic names unique to one test, so tests never see each other's events."""
    suffix = uuid.uuid4().hex[:8]
    return TopicSettings(
        subbands=f"test.subbands.{suffix}",
        ms_ready=f"test.ms-ready.{suffix}",
        dead_letter=f"test.dead-letter.{suffix}",
    )
