"""SIGTERM, at-least-once mode, health and metrics endpoints, on the real broker."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request

import pytest

from dsa110_stream.broker.runtime import free_port
from tests.consumer.checks import assert_exactly_once, assert_offsets_committed_to_end
from tests.consumer.harness import (
    dump_events,
    log_events,
    parse_summary,
    publish,
    tail,
    wait_for_log,
)

pytestmark = [pytest.mark.broker, pytest.mark.casa]


def test_sigterm_finishes_the_running_conversion_then_stops(consumer_setup, sim_root):
    setup = consumer_setup
    root, sim = sim_root
    events = [e for dump in sim.dumps[:4] for e in dump_events(dump, root)]
    publish(setup.bootstrap, setup.topics.subbands, events, root)
    groups = sorted({e.group_id for e in events})

    process, log_path = setup.start(extra=["--idle-exit", "60"])
    wait_for_log(log_path, "conversion started")
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=120)

    assert process.returncode == 0, tail(log_path)
    [stopping] = log_events(log_path, "stopping")
    assert stopping["reason"] == "SIGTERM"
    started = {e["group_id"] for e in log_events(log_path, "conversion started")}
    finished = {e["group_id"] for e in log_events(log_path, "group finished")}
    assert started <= finished  # in-flight work was finished within the grace period
    summary = parse_summary(stdout)
    assert summary is not None and summary["groups_finished"] == len(finished) < len(groups)

    rest = setup.run(extra=["--idle-exit", "5"])
    assert rest.returncode == 0, tail(rest.log_path)
    assert_exactly_once(setup, groups)
    assert_offsets_committed_to_end(setup)


def test_at_least_once_mode_still_emits_once_after_a_crash(consumer_setup, sim_root):
    """Without transactions a kill between produce and commit re-reads the group; the
    record of finished groups (read from the ms-ready topic) stops a second event."""
    setup = consumer_setup
    root, sim = sim_root
    events = [e for dump in sim.dumps[:2] for e in dump_events(dump, root)]
    publish(setup.bootstrap, setup.topics.subbands, events, root, partition=0)
    groups = sorted({e.group_id for e in events})

    crashed = setup.run(extra=["--no-exactly-once", "--idle-exit", "5"], crash_at="after_produce:1")
    assert crashed.killed, tail(crashed.log_path)
    rest = setup.run(extra=["--no-exactly-once", "--idle-exit", "5"])

    assert rest.returncode == 0, tail(rest.log_path)
    assert_exactly_once(setup, groups)
    assert_offsets_committed_to_end(setup)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_and_metrics_endpoints(consumer_setup, sim_root):
    setup = consumer_setup
    root, sim = sim_root
    events = [e for dump in sim.dumps[:2] for e in dump_events(dump, root)]
    publish(setup.bootstrap, setup.topics.subbands, events, root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process, log_path = setup.start(extra=["--idle-exit", "60", "--metrics-port", str(port)])
    try:
        wait_for_log(log_path, "group finished", count=2)
        deadline = time.monotonic() + 30
        while get(f"{base}/readyz")[0] != 200:
            assert time.monotonic() < deadline, get(f"{base}/readyz")
            time.sleep(0.5)
        status, body = get(f"{base}/healthz")
        assert status == 200 and '"live": true' in body
        status, metrics = get(f"{base}/metrics")
        assert status == 200
        assert 'dsa110_consumer_groups_finished_total{outcome="complete"} 2.0' in metrics
        assert 'dsa110_consumer_conversions_total{result="converted"} 2.0' in metrics
        assert "dsa110_consumer_conversion_seconds_bucket" in metrics
        assert "dsa110_consumer_last_success_timestamp_seconds" in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0, tail(log_path)
