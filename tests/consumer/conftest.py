"""Fixtures of the consumer tests: simulated dumps (shared), topics and a consumer setup."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dsa110_stream.settings import TopicSettings
from tests.consumer.harness import ConsumerSetup, create_topics

#: Dumps simulated once per session: enough for the crash test's ≥ 20 groups.
N_DUMPS = 24


@pytest.fixture(scope="session")
def sim_root(tmp_path_factory: pytest.TempPathFactory, station_table: Path):
    """Data root with N_DUMPS small dumps (4 antennas, 4 integrations, 8 channels/subband)."""
    from simulator import SimulationConfig, simulate

    root = tmp_path_factory.mktemp("consumer-data")
    result = simulate(
        root / "incoming",
        SimulationConfig(
            n_antennas=4,
            n_dumps=N_DUMPS,
            n_times=4,
            n_channels_per_subband=8,
            station_table=station_table,
            seed=7,
        ),
        truth_path=root / "truth.json",
    )
    return root, result


@pytest.fixture
def consumer_setup(kafka_bootstrap: str, tmp_path: Path, sim_root) -> ConsumerSetup:
    """Fresh topics (3 partitions), group id and output directories for one test."""
    root, _ = sim_root
    suffix = uuid.uuid4().hex[:8]
    topics = TopicSettings(
        subbands=f"test.subbands.{suffix}",
        ms_ready=f"test.ms-ready.{suffix}",
        dead_letter=f"test.dead-letter.{suffix}",
    )
    create_topics(kafka_bootstrap, topics)
    logs = tmp_path / "logs"
    logs.mkdir()
    return ConsumerSetup(
        bootstrap=kafka_bootstrap,
        topics=topics,
        group=f"test-consumer-{suffix}",
        data_root=root,
        output_dir=tmp_path / "ms",
        scratch_dir=tmp_path / "ms" / ".scratch",
        log_dir=logs,
    )
