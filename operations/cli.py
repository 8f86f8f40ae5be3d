"""``dsa110-stream status`` and ``dsa110-stream replay``: the operator's questions, answered
from Kafka.

Both read the consumer's own settings (``--config`` takes the consumer's YAML file), so
they look at the same cluster, topics and consumer group as the consumers do.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consumer.settings import ConsumerSettings

#: Exit statuses: 0 done, 1 Kafka could not answer or the replay was refused, 2 bad input.
EXIT_FAILED = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_status(subparsers)
    _register_replay(subparsers)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="the consumer's YAML settings file"
    )
    parser.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT", help="Kafka brokers, host:port[,host:port]"
    )
    parser.add_argument(
        "--group", help="consumer group to look at (default: the consumer's, dsa110-consumer)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up when Kafka does not answer (or a read makes no progress) for this long",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _register_status(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="is the grouping working? lag, open groups, recent completions and failures",
        description=(
            "Report, for one consumer group: per partition of the subbands topic the "
            "committed offset, end offset and lag; the open groups (events after the "
            "committed offsets whose group has no MS-ready or dead-letter event yet) with "
            "the subbands present and missing; the last N MS-ready events (subbands, rows, "
            "conversion seconds per stage, reused or converted) and dead letters; and the "
            "median and maximum conversion time. Read-only: it never joins the group or "
            "commits offsets."
        ),
    )
    _common_arguments(parser)
    parser.add_argument(
        "--recent",
        type=_positive_int,
        default=10,
        metavar="N",
        help="completions and failures to list (default 10)",
    )
    parser.add_argument(
        "--scan-limit",
        type=_positive_int,
        default=50_000,
        metavar="EVENTS",
        help="read at most this many events per partition after the committed offset to find "
        "open groups (default 50000; 30 days of data are about 140000 events in all)",
    )
    parser.add_argument(
        "--max-open",
        type=_positive_int,
        default=20,
        metavar="N",
        help="open groups to list in the table, oldest first (default 20; --json lists all)",
    )
    parser.set_defaults(func=run_status)


def _register_replay(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="reset a consumer group's offsets to an observation-time window",
        description=(
            "Find, per partition of the subbands topic, the first event observed at or after "
            "--from and at or after --to (Kafka's time index: the message timestamp is the "
            "observation time), and set the consumer group's committed offsets to the window "
            "start. Committed offsets are never moved forward past unfinished groups. "
            "Refused while the group has active members. This re-emits and reconverts "
            "nothing by itself: groups already finished are skipped by the consumer unless it "
            "runs with --force (docs/operations.md). Use --dry-run first."
        ),
    )
    _common_arguments(parser)
    parser.add_argument(
        "--from",
        dest="start",
        type=parse_utc,
        required=True,
        metavar="T1",
        help="window start, UTC observation time, e.g. 2025-10-02T10:00:00",
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=parse_utc,
        required=True,
        metavar="T2",
        help="window end (exclusive), UTC observation time",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the offsets, events and groups of the window per partition; change nothing",
    )
    parser.set_defaults(func=run_replay)


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time; without a UTC offset it is taken as UTC (argparse type)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time such as 2025-10-02T10:00:00 (UTC)"
        ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _settings(args: argparse.Namespace) -> ConsumerSettings | None:
    """The consumer's settings with the command-line overrides; None (after printing why)
    when they are invalid."""
    from pydantic import ValidationError

    from consumer.settings import ConsumerSettings
    from dsa110_stream.logs import configure_logging
    from dsa110_stream.settings import load_settings

    overrides: dict[str, Any] = {"group_id": args.group}
    if args.bootstrap_servers:
        overrides["kafka"] = {"bootstrap_servers": args.bootstrap_servers}
    try:
        settings = load_settings(ConsumerSettings, args.config, **overrides)
    except (ValidationError, FileNotFoundError) as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return None
    configure_logging(settings.observability.log_level, settings.observability.log_json)
    return settings


def run_status(args: argparse.Namespace) -> int:
    from operations.cluster import ClusterError, ClusterReader
    from operations.render import status_text, to_json
    from operations.status import gather_status
    from schemas.codec import EventCodec, SchemaRegistryUnavailable

    settings = _settings(args)
    if settings is None:
        return EXIT_USAGE
    codec = EventCodec(settings.kafka.schema_registry_url)
    try:
        with ClusterReader(settings.kafka.client_config(), args.timeout) as reader:
            report = gather_status(
                reader,
                settings,
                codec,
                recent=args.recent,
                scan_limit=args.scan_limit,
                now=datetime.now(UTC),
            )
    except (ClusterError, SchemaRegistryUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(to_json(report))
    else:
        print(status_text(report, settings.expected_subbands, args.max_open))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from operations.cluster import ClusterError, ClusterReader
    from operations.render import replay_next_steps, replay_text, to_json
    from operations.replay import ReplayRefused, apply_replay, plan_replay
    from schemas.codec import EventCodec, SchemaRegistryUnavailable

    if args.end <= args.start:
        print(
            f"error: --to ({args.end.isoformat()}) must be later than --from "
            f"({args.start.isoformat()})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    settings = _settings(args)
    if settings is None:
        return EXIT_USAGE
    codec = EventCodec(settings.kafka.schema_registry_url)
    try:
        with ClusterReader(settings.kafka.client_config(), args.timeout) as reader:
            plan = plan_replay(
                reader, settings.group_id, settings.topics.subbands, args.start, args.end, codec
            )
            if not args.json:
                print(replay_text(plan, dry_run=args.dry_run))
            committed_after = None if args.dry_run else apply_replay(reader, plan)
    except ReplayRefused as exc:
        print(f"error: replay refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ClusterError, SchemaRegistryUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(to_json(plan, dry_run=args.dry_run, committed_after=committed_after))
    elif not args.dry_run:
        print()
        print(replay_next_steps(plan, _repeated_flags(args)))
    return 0


def _repeated_flags(args: argparse.Namespace) -> str:
    """The connection flags the operator gave, to repeat in suggested commands."""
    flags = []
    if args.config is not None:
        flags.append(f"--config {args.config}")
    if args.bootstrap_servers:
        flags.append(f"--bootstrap-servers {args.bootstrap_servers}")
    return " ".join(flags)
