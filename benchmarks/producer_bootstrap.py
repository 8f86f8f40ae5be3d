"""How fast does the producer bootstrap a multi-day backlog? (Results: docs/producer.md.)

Builds a backlog of ``--dumps`` dumps (default 3,600 = ~3 days, 57,600 files) of small but
valid simulated subband files: one simulated dump is hard-linked under every file name
(jittered, 309 s cadence, ending an hour ago), so every file still goes through the full
check (stat, HDF5 header, grouping) while the disk holds only 16 files. Then it runs the
producer in ``--once`` mode against a real broker with fresh topics, twice:

1. bootstrap: publish every file (history empty);
2. restart: rebuild the state from the topic (reads all events back) and publish nothing.

Usage::

    python benchmarks/producer_bootstrap.py --bootstrap-servers 127.0.0.1:9092 [--dumps 3600]

The header reads hit the page cache here; on a cold disk each file costs a few extra
small reads (HDF5 superblock, object headers).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from astropy.utils import iers
from prometheus_client import CollectorRegistry

from converter.telescope import DUMP_SECONDS
from dsa110_stream.logs import configure_logging
from dsa110_stream.settings import TopicSettings
from producer.service import ProducerService
from producer.settings import ProducerSettings
from simulator import SimulationConfig, simulate


def build_backlog(work: Path, n_dumps: int) -> Path:
    """Hard-link one simulated dump under the names of ``n_dumps`` dumps; return the dir."""
    # The simulated LSTs need no fresh IERS table for a benchmark.
    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
    iers.conf.iers_degraded_accuracy = "warn"
    first = datetime.now(UTC) - timedelta(hours=1) - n_dumps * timedelta(seconds=DUMP_SECONDS)
    template = simulate(
        work / "template",
        SimulationConfig(n_antennas=4, n_times=24, start=first.replace(microsecond=0)),
        truth_path=work / "truth.json",
    )
    sources = template.dumps[0].files
    an_hour_ago = time.time() - 3600
    for path in sources.values():
        os.utime(path, (an_hour_ago, an_hour_ago))  # long stable, as a backlog is
    incoming = work / "incoming"
    incoming.mkdir()
    rng = random.Random(0)
    for dump in range(n_dumps):
        start = first + timedelta(seconds=dump * DUMP_SECONDS)
        for subband, source in sources.items():
            stamp = start + timedelta(seconds=rng.uniform(0, 10))
            os.link(source, incoming / f"{stamp:%Y-%m-%dT%H:%M:%S}_sb{subband:02d}.hdf5")
    return incoming


def run_once(settings: ProducerSettings) -> tuple[float, ProducerService]:
    service = ProducerService(settings, registry=CollectorRegistry())
    started = time.perf_counter()
    status = service.run(once=True)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"producer exited with status {status}")
    return elapsed, service


def delete_topics(bootstrap: str, topics: TopicSettings) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(
        [topics.subbands, topics.ms_ready, topics.dead_letter]
    ).values():
        future.result()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("DSA110_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    parser.add_argument("--dumps", type=int, default=3600, help="default 3600 (~3 days)")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--header-workers", type=int, default=0)
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args()

    # Per-file "published" lines are part of the cost; render them as in production (JSON),
    # but into a file, not the terminal.
    work = Path(tempfile.mkdtemp(prefix="producer-bench-"))
    log_path = work / "producer.log"
    suffix = uuid.uuid4().hex[:8]
    topics = TopicSettings(
        subbands=f"bench.subbands.{suffix}",
        ms_ready=f"bench.ms-ready.{suffix}",
        dead_letter=f"bench.dead-letter.{suffix}",
    )
    try:
        started = time.perf_counter()
        incoming = build_backlog(work, args.dumps)
        n_files = sum(1 for _ in incoming.iterdir())
        print(
            f"backlog: {n_files} files in {incoming} ({time.perf_counter() - started:.1f} s "
            "to build)"
        )
        settings = ProducerSettings.model_validate(
            {
                "input_dir": incoming,
                "kafka": {"bootstrap_servers": args.bootstrap_servers},
                "topics": topics,
                "layout": {"partitions": args.partitions, "replication_factor": 1},
                "stable_seconds": 30.0,
                "header_workers": args.header_workers,
            }
        )
        with log_path.open("w") as log_file:
            stderr, sys.stderr = sys.stderr, log_file
            try:
                configure_logging("INFO", json=True)
                bootstrap_s, first = run_once(settings)
                restart_s, second = run_once(settings)
            finally:
                sys.stderr = stderr
        published = first.metrics.files_published._value.get()
        latency = first.metrics.publish_latency
        print(f"header workers: {args.header_workers}")
        print(
            f"bootstrap: {published:.0f} files published in {bootstrap_s:.1f} s "
            f"= {published / bootstrap_s:.0f} files/s"
        )
        print(f"  mean delivery latency {latency._sum.get() / max(published, 1) * 1000:.0f} ms")
        print(
            f"restart:   state rebuilt from {second.metrics.files_seen._value.get():.0f} new "
            f"files + the topic, nothing republished, in {restart_s:.1f} s"
        )
        print(f"load average during the run: {os.getloadavg()}")
        print(f"producer log: {log_path}")
    finally:
        if not args.keep_topics:
            delete_topics(args.bootstrap_servers, topics)
        shutil.rmtree(work / "incoming", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
