"""Acceptance: with the broker stopped for 30 s while files arrive, every event arrives once
after it returns (a dedicated broker: the shared session broker must stay up)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from dsa110_stream.broker.runtime import LocalKafka, free_ports
from tests.producer.helpers import (
    ProducerThread,
    producer_settings,
    simulate_into,
    small_config,
    subband_events,
    wait_until,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

OUTAGE_SECONDS = 30.0


def test_events_survive_a_broker_outage(tmp_path: Path, topic_settings) -> None:
    simulation = simulate_into(tmp_path / "sim", small_config(n_dumps=1))
    port, controller = free_ports(2)
    broker = LocalKafka(data_dir=tmp_path / "broker", port=port, controller_port=controller)
    bootstrap = broker.start()
    try:
        incoming = tmp_path / "incoming"
        incoming.mkdir()
        producer = ProducerThread(producer_settings(incoming, bootstrap, topic_settings))
        wait_until(lambda: producer.service.health().ready, 90, "the producer to be ready")
        before, during = simulation.files[:4], simulation.files[4:]
        for source in before:
            shutil.copy2(source, incoming / source.name)
        wait_until(lambda: len(subband_events(bootstrap, topic_settings)) == 4, 60,
                   "the first files to be published")

        broker.stop()
        stopped = time.monotonic()
        for source in during:
            shutil.copy2(source, incoming / source.name)
            time.sleep(OUTAGE_SECONDS / 2 / len(during))
        wait_until(lambda: producer.service.health().detail["awaiting_delivery"] == len(during),
                   OUTAGE_SECONDS, "the files to be handed to the Kafka client")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
        assert producer.alive
        assert producer.service.metrics.files_published._value.get() == 4

        broker.start()
        wait_until(lambda: len(subband_events(bootstrap, topic_settings)) >= 16, 120,
                   "the events held during the outage")
        assert producer.stop() == 0
        events = subband_events(bootstrap, topic_settings)
        assert sorted(e.record["relative_path"] for e in events) == sorted(
            f.name for f in simulation.files
        )
        assert len({e.record["group_id"] for e in events}) == 1
    finally:
        broker.stop()
