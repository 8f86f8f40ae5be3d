"""The ``produce`` command as operators run it: dry run, --once, then a long-running
process with health and metrics endpoints, stopped with SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dsa110_stream.broker.runtime import free_port
from tests.producer.helpers import simulate_into, small_config, subband_events, wait_until

pytestmark = pytest.mark.broker


def _environment(bootstrap: str, topics) -> dict[str, str]:
    return {
        **os.environ,
        "DSA110_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "DSA110_TOPICS__SUBBANDS": topics.subbands,
        "DSA110_TOPICS__MS_READY": topics.ms_ready,
        "DSA110_TOPICS__DEAD_LETTER": topics.dead_letter,
        "DSA110_LAYOUT__PARTITIONS": "3",
        "DSA110_LAYOUT__REPLICATION_FACTOR": "1",
        "DSA110_OBSERVABILITY__LOG_JSON": "true",
    }


def _produce(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsa110_stream.cli", "produce", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def test_dry_run_once_then_serve_until_sigterm(
    tmp_path: Path, kafka_bootstrap: str, topic_settings
) -> None:
    simulation = simulate_into(tmp_path / "sim", small_config(n_dumps=2, shuffle=True))
    first, second = simulation.dumps
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    closed_a_minute_ago = time.time() - 60  # the first dump is finished and stable
    for path in first.files.values():
        shutil.copy2(path, incoming / path.name)
        os.utime(incoming / path.name, (closed_a_minute_ago, closed_a_minute_ago))
    env = _environment(kafka_bootstrap, topic_settings)
    input_dir = ["--input-dir", str(incoming), "--stable-seconds", "1"]
    expected_id = min(f.filename_timestamp for f in first.entries).strftime("%Y-%m-%dT%H:%M:%S")

    plan = _produce([*input_dir, "--dry-run"], env)
    assert plan.returncode == 0, plan.stderr
    publish_lines = [line for line in plan.stdout.splitlines() if line.startswith("publish ")]
    assert len(publish_lines) == 16, plan.stdout + plan.stderr
    assert all(expected_id in line for line in publish_lines)
    assert "1 groups to publish, 1 with all 16 subbands" in plan.stdout, plan.stdout
    assert subband_events(kafka_bootstrap, topic_settings) == [], "a dry run published"

    once = _produce([*input_dir, "--once"], env)
    assert once.returncode == 0, once.stderr
    assert "bootstrap: 16 of 16 files settled; done" in once.stderr
    events = subband_events(kafka_bootstrap, topic_settings)
    assert {e.record["group_id"] for e in events} == {expected_id} and len(events) == 16

    again = _produce([*input_dir, "--dry-run"], env)
    assert again.returncode == 0, again.stderr
    assert "16 files: 16 already published" in again.stdout, again.stdout + again.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dsa110_stream.cli", "produce", *input_dir,
         "--metrics-port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200, 120,
                   "/readyz to answer 200")
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        for path in second.files.values():
            shutil.copy2(path, incoming / path.name)
        wait_until(lambda: len(subband_events(kafka_bootstrap, topic_settings)) == 32, 120,
                   "the second dump to be published")

        def published_metric() -> bool:
            metrics = _get(f"http://127.0.0.1:{port}/metrics")[1]
            return "dsa110_producer_files_published_total 16.0" in metrics

        wait_until(published_metric, 30, "the metrics to count 16 published files")
        metrics = _get(f"http://127.0.0.1:{port}/metrics")[1]
        assert "dsa110_producer_publish_latency_seconds_count 16.0" in metrics
        assert "dsa110_producer_files_seen_total 16.0" in metrics
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=90)
        assert server.returncode == 0, stderr
        assert "producer stopped" in stderr
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    groups = {e.record["group_id"] for e in subband_events(kafka_bootstrap, topic_settings)}
    assert len(groups) == 2
