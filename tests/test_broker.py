"""The local development broker: start, use, stop, restart from cached jars."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dsa110_stream.broker.runtime import (
    LocalKafka,
    free_ports,
    jar_cache_dir,
    new_cluster_id,
)

pytestmark = pytest.mark.broker

CLI = [sys.executable, "-m", "dsa110_stream.cli", "broker"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180)


def _produce_and_consume(bootstrap: str) -> bytes:
    from confluent_kafka import Consumer, Producer

    topic = f"test.broker.{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"k", value=b"hello dsa110")
    assert producer.flush(30) == 0, "message not delivered"
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}",
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                value = message.value()
                assert value is not None
                return bytes(value)
    finally:
        consumer.close()
    raise AssertionError("no message consumed within 60 s")


def test_start_produce_consume_stop_then_restart_from_cached_jars(tmp_path: Path) -> None:
    port, controller = free_ports(2)
    data_dir = tmp_path / "broker"
    args = ("--data-dir", str(data_dir), "--port", str(port))
    broker = LocalKafka(data_dir=data_dir, port=port, controller_port=controller)
    # The CLI derives the controller port as port+1; make sure it is free too.
    if not _port_free(port + 1):
        pytest.skip("port+1 is taken on this host")

    started = time.monotonic()
    first = _cli("start", *args)
    first_seconds = time.monotonic() - started
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"127.0.0.1:{port}" in first.stdout
    try:
        assert _cli("status", *args).returncode == 0
        assert _produce_and_consume(broker.bootstrap) == b"hello dsa110"
    finally:
        assert _cli("stop", *args).returncode == 0
    assert _cli("status", *args).returncode == 3, "status must say 'not running' after stop"

    marker = jar_cache_dir() / "libs" / ".complete"
    marker_mtime = marker.stat().st_mtime
    started = time.monotonic()
    second = _cli("start", *args)
    second_seconds = time.monotonic() - started
    try:
        assert second.returncode == 0, second.stdout + second.stderr
        assert _produce_and_consume(broker.bootstrap) == b"hello dsa110"
    finally:
        _cli("stop", *args)
    assert marker.stat().st_mtime == marker_mtime, "second start re-fetched the jars"
    print(f"\nbroker start: first {first_seconds:.1f} s, second {second_seconds:.1f} s")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_port_clash_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _cli("start", "--data-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 1
    assert f"port {port}" in result.stdout and "already in use" in result.stdout


def test_cluster_id_never_starts_with_a_dash() -> None:
    """The storage tool reads ``-t -xyz`` as an option; such ids must be drawn again."""
    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(15))  # base64 index 62 is "-"
    fine = uuid.UUID(bytes=bytes(range(16)))
    draws = iter([dash_first, dash_first, fine])

    cluster_id = new_cluster_id(lambda: next(draws))

    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22
    assert next(draws, None) is None, "both dash-first draws should have been consumed"


def test_free_ports_are_distinct() -> None:
    ports = free_ports(50)
    assert len(set(ports)) == 50
    assert all(1024 <= p < 65536 for p in ports)
