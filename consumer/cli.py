"""``dsa110-stream consume``: aggregate subband events per group, convert, emit MS-ready."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "consume",
        help="convert each complete group of subband events into a Measurement Set",
        description=(
            "Join the consumer group, collect the SubbandFile events of each group id, "
            "convert complete groups (or, after a timeout, groups with at least "
            "--min-subbands) into <output-dir>/<group_id>.ms in worker processes, and "
            "emit one MeasurementSetReady event per group (dead letters for what cannot "
            "be used), exactly once with the offset commit. Groups already finished are "
            "skipped unless --force. Stops cleanly on SIGTERM/SIGINT. Settings: flags > "
            "DSA110_* environment > --config YAML > defaults (docs/consumer.md)."
        ),
    )
    parser.add_argument("--bootstrap-servers", help="Kafka brokers, host:port[,host:port]")
    parser.add_argument("--config", type=Path, help="YAML settings file")
    parser.add_argument("--group", help="consumer group id (default dsa110-consumer)")
    parser.add_argument(
        "--instance-id", help="stable, unique name of this instance (default: host name)"
    )
    parser.add_argument(
        "--static-membership",
        action="store_true",
        help="use the instance id as group.instance.id: a restarted pod gets its partitions "
        "back without a rebalance (StatefulSet)",
    )
    parser.add_argument("--data-root", type=Path, help="this consumer's mount of the ingest volume")
    parser.add_argument("--output-dir", type=Path, help="where <group_id>.ms are written")
    parser.add_argument("--scratch-dir", type=Path, help="scratch on the output filesystem")
    parser.add_argument("--concurrency", type=int, help="conversions at the same time (default 1)")
    parser.add_argument(
        "--min-subbands",
        type=int,
        help="convert a timed-out group with at least this many subbands (default 12)",
    )
    parser.add_argument(
        "--group-timeout",
        type=float,
        help="seconds after a group's first event before an incomplete group is closed",
    )
    parser.add_argument(
        "--no-exactly-once",
        action="store_true",
        help="produce then commit, without transactions (no zombie fencing)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="reconvert and re-emit groups finished before this run (bounded replays)",
    )
    parser.add_argument(
        "--force-until",
        metavar="TIME",
        help="with --force: reconvert only groups observed up to TIME (ISO, UTC), e.g. "
        "the end of a replayed window",
    )
    parser.add_argument(
        "--metrics-port", type=int, help="serve /metrics, /healthz, /readyz on this port"
    )
    parser.add_argument(
        "--max-groups",
        type=int,
        help="exit after finishing this many groups (one-shot runs)",
    )
    parser.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="exit once nothing is open or running and no event came for this long",
    )
    parser.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from dsa110_stream.settings import service_flag_overrides

    overrides: dict[str, Any] = {
        "group_id": args.group,
        "instance_id": args.instance_id,
        "data_root": args.data_root,
        "output_dir": args.output_dir,
        "scratch_dir": args.scratch_dir,
        "concurrency": args.concurrency,
        "min_subbands": args.min_subbands,
        "group_timeout_s": args.group_timeout,
        "exactly_once": False if args.no_exactly_once else None,
        "force": True if args.force else None,
        "force_until": args.force_until,
        "static_membership": True if args.static_membership else None,
    }
    return overrides | service_flag_overrides(args.bootstrap_servers, args.metrics_port)


def run(args: argparse.Namespace) -> int:
    from consumer.settings import ConsumerSettings
    from dsa110_stream.logs import configure_logging
    from dsa110_stream.settings import load_command_settings

    settings = load_command_settings(ConsumerSettings, args.config, "consumer", **_overrides(args))
    if settings is None:
        return 2
    configure_logging(settings.observability.log_level, settings.observability.log_json)
    return _serve(settings, args.max_groups, args.idle_exit)


def _serve(settings: Any, max_groups: int | None, idle_exit: float | None) -> int:
    from consumer.checkpoint import ProducerFenced
    from consumer.crashpoints import CrashPoints
    from consumer.finished import FinishedRecordUnavailable
    from consumer.service import ConsumerService, ConsumerStartupError, RunLimits
    from dsa110_stream.endpoints import start_endpoints

    service = ConsumerService(
        settings,
        RunLimits(max_groups=max_groups, idle_exit_s=idle_exit),
        CrashPoints.from_environment(),
    )
    endpoints = None
    observability = settings.observability
    if observability.metrics_port is not None:
        endpoints = start_endpoints(
            observability.metrics_host, observability.metrics_port, service.health
        )
    try:
        summary = service.run()
    except ConsumerStartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ProducerFenced, FinishedRecordUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        if endpoints is not None:
            endpoints.close()
    print(json.dumps({"summary": summary.__dict__}))
    return 0
