"""``dsa110-stream produce``: publish every complete subband file of a directory once."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="watch an ingest directory and publish one event per complete subband file",
        description=(
            "Publish one SubbandFile event per complete subband file in INPUT_DIR to the "
            "subbands topic, with its group id (anchor clustering, ±150 s). At start-up the "
            "state is rebuilt from the topics, then the files already in the directory are "
            "published oldest first (skipping those already in the topic), then new files "
            "as they are closed or renamed into the directory. Misnamed, out-of-range, "
            "corrupt, duplicate and outside-the-data-root files go to the dead-letter "
            "topic. Stops cleanly on SIGTERM/SIGINT. Settings: flags > DSA110_* environment "
            "> --config YAML > defaults (docs/producer.md)."
        ),
    )
    parser.add_argument("--input-dir", type=Path, help="ingest directory (DSA110_INPUT_DIR)")
    parser.add_argument(
        "--data-root", type=Path,
        help="root of the shared volume; event paths are relative to it (default: input dir)",
    )
    parser.add_argument("--bootstrap-servers", help="Kafka brokers, host:port[,host:port]")
    parser.add_argument("--config", type=Path, help="YAML settings file")
    parser.add_argument(
        "--poll", action="store_true",
        help="scan the directory periodically instead of using inotify (NFS)",
    )
    parser.add_argument(
        "--stable-seconds", type=float,
        help="a file not seen closing is complete once unchanged this long (default 30)",
    )
    parser.add_argument("--metrics-port", type=int,
                        help="serve /metrics, /healthz, /readyz on this port")
    parser.add_argument("--no-bootstrap", action="store_true",
                        help="ignore the files already in the directory at start-up")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true",
        help="publish what is in the directory now, wait for the broker's confirmation, exit",
    )
    mode.add_argument(
        "--dry-run", action="store_true",
        help="print what a start-up would publish (with group ids) or dead-letter; publish "
        "nothing",
    )
    parser.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from dsa110_stream.settings import service_flag_overrides

    overrides: dict[str, Any] = {
        "input_dir": args.input_dir,
        "data_root": args.data_root,
        "stable_seconds": args.stable_seconds,
        "watch_mode": "poll" if args.poll else None,
        "bootstrap": False if args.no_bootstrap else None,
    }
    return overrides | service_flag_overrides(args.bootstrap_servers, args.metrics_port)


def run(args: argparse.Namespace) -> int:
    from dsa110_stream.logs import configure_logging
    from dsa110_stream.settings import load_command_settings
    from producer.settings import ProducerSettings

    settings = load_command_settings(ProducerSettings, args.config, "producer", **_overrides(args))
    if settings is None:
        return 2
    configure_logging(settings.observability.log_level, settings.observability.log_json)
    if args.dry_run:
        return _dry_run(settings)
    return _serve(settings, once=args.once)


def _serve(settings: Any, *, once: bool) -> int:
    from dsa110_stream.endpoints import start_endpoints
    from producer.service import ProducerService, ProducerStartupError

    service = ProducerService(settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop())
    endpoints = None
    observability = settings.observability
    if observability.metrics_port is not None:
        endpoints = start_endpoints(
            observability.metrics_host, observability.metrics_port, service.health
        )
    try:
        return service.run(once=once)
    except ProducerStartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if endpoints is not None:
            endpoints.close()


def _dry_run(settings: Any) -> int:
    from datetime import UTC, datetime

    from producer.history import HistoryUnavailable, history_window, read_history, seed_state
    from producer.plan import format_plan, plan_bootstrap
    from producer.state import ProducerState
    from producer.watcher import scan_directory
    from schemas.codec import EventCodec

    if not settings.input_dir.is_dir():
        print(f"error: input directory {settings.input_dir} does not exist", file=sys.stderr)
        return 2
    scanned = scan_directory(settings.input_dir)
    window = history_window(scanned, datetime.now(UTC), settings.history_lookback)
    codec = EventCodec(settings.kafka.schema_registry_url)
    deadline = time.monotonic() + 30.0
    while True:
        try:
            history = read_history(settings.kafka.client_config(), settings.topics, codec,
                                   window, timeout=10.0)
        except HistoryUnavailable as exc:
            if time.monotonic() < deadline:
                time.sleep(2.0)  # a broker starting up, a leader being elected
                continue
            state = ProducerState(tolerance=settings.tolerance)
            print(f"WARNING: {exc}\nPlanning as if the topics were empty: files already "
                  "published would be shown as 'publish'.")
            break
        state = seed_state(history, settings)
        print(f"State from the topics: {state.n_published} files already published, "
              f"{state.n_rejected} already dead-lettered.")
        break
    print(format_plan(plan_bootstrap(settings, state, scanned)))
    return 0
