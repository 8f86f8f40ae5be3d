"""``dsa110-stream topics create|describe``: create and check the event topics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``topics`` command and its ``create`` and ``describe`` subcommands."""
    topics = subparsers.add_parser(
        "topics",
        help="create or check the Kafka topics (names from settings)",
        description="Create the subbands, ms-ready and dead-letter topics, or compare them "
        "with their specification (partitions, replication, retention, cleanup policy).",
    )
    actions = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create missing topics; report what exists and what differs",
        description="Idempotent: existing topics are kept and compared with the spec. "
        "Exit status 0 when every topic exists afterwards.",
    )
    _add_common_flags(create)
    create.add_argument(
        "--alter-configs",
        action="store_true",
        help="also set topic configs that differ from the spec (partitions never change)",
    )
    create.set_defaults(func=run_create)
    describe = actions.add_parser(
        "describe",
        help="compare existing topics with the spec; change nothing",
        description="Exit status 0 when every topic exists and matches, 1 otherwise.",
    )
    _add_common_flags(describe)
    describe.set_defaults(func=run_describe)


def _add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file")
    parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (host:port,...)")
    parser.add_argument("--partitions", type=int, help="partitions per topic (default 12)")
    parser.add_argument("--replication-factor", type=int, help="replicas per partition (default 3)")
    parser.add_argument(
        "--min-insync-replicas", type=int, help="default: 2 when replicated 3+ times, else 1"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="admin request timeout, s")


def _settings(args: argparse.Namespace) -> Any:
    from dsa110_stream.settings import load_settings
    from schemas.topics import TopicAdminSettings

    layout = {
        key: value
        for key, value in (
            ("partitions", args.partitions),
            ("replication_factor", args.replication_factor),
            ("min_insync_replicas", args.min_insync_replicas),
        )
        if value is not None
    }
    overrides: dict[str, Any] = {}
    if layout:
        overrides["layout"] = layout
    if args.bootstrap_servers:
        overrides["kafka"] = {"bootstrap_servers": args.bootstrap_servers}
    return load_settings(TopicAdminSettings, args.config, **overrides)


def run_create(args: argparse.Namespace) -> int:
    """Create the topics; print one line per topic."""
    from confluent_kafka import KafkaException

    from schemas.topics import ensure_specs, topic_specs

    settings = _settings(args)
    specs = topic_specs(
        settings.topics,
        settings.layout.partitions,
        settings.layout.replication_factor,
        settings.layout.min_insync_replicas,
    )
    try:
        statuses = ensure_specs(
            settings.kafka.client_config(),
            specs,
            alter_configs=args.alter_configs,
            timeout=args.timeout,
        )
    except KafkaException as exc:
        print(f"error: cannot create topics on {settings.kafka.bootstrap_servers}: {exc}")
        return 1
    _print_statuses(statuses)
    return 0 if all(status.exists for status in statuses) else 1


def run_describe(args: argparse.Namespace) -> int:
    """Print how each topic compares with its spec."""
    from confluent_kafka import KafkaException

    from schemas.topics import describe_topics, topic_specs

    settings = _settings(args)
    specs = topic_specs(
        settings.topics,
        settings.layout.partitions,
        settings.layout.replication_factor,
        settings.layout.min_insync_replicas,
    )
    try:
        statuses = describe_topics(settings.kafka.client_config(), specs, timeout=args.timeout)
    except KafkaException as exc:
        print(f"error: cannot describe topics on {settings.kafka.bootstrap_servers}: {exc}")
        return 1
    _print_statuses(statuses)
    return 0 if all(not status.differences for status in statuses) else 1


def _print_statuses(statuses: Any) -> None:
    for status in statuses:
        spec = status.spec
        if not status.exists:
            state = "MISSING"
        elif status.created:
            state = "created"
        else:
            state = "exists"
        print(
            f"{spec.name}: {state}, partitions={status.partitions}, "
            f"replication={status.replication_factor}  ({spec.purpose})"
        )
        for key in status.altered:
            print(f"  altered {key} -> {spec.config[key]}")
        if status.exists:
            for difference in status.differences:
                print(f"  differs: {difference}")
