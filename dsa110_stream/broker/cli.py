"""``dsa110-stream broker start|stop|status``: the local development Kafka."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dsa110_stream.casa_env import DEFAULT_CACHE

DEFAULT_DATA_DIR = DEFAULT_CACHE / "broker"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="run a local single-node Kafka (development, tests, demos only)",
        description="Run Apache Kafka 4.x (KRaft, one node, loopback) from its Maven Central "
        "jars. For development, tests and demos; production uses an existing cluster.",
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR,
        help=f"broker data, config, log and pid file (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--port", type=int, default=9092, help="client port (default 9092); "
                        "the controller uses port+1")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dsa110_stream.broker.runtime import BrokerError, LocalKafka

    broker = LocalKafka(data_dir=args.data_dir.expanduser().resolve(), port=args.port)
    try:
        if args.action == "start":
            started = time.monotonic()
            bootstrap = broker.start()
            print(f"Kafka {bootstrap} is up ({time.monotonic() - started:.1f} s); "
                  f"data and log in {broker.data_dir}")
            print(f"export DSA110_KAFKA__BOOTSTRAP_SERVERS={bootstrap}")
        elif args.action == "stop":
            print("stopped" if broker.stop() else "not running")
        else:
            pid = broker.running_pid()
            if pid is None:
                print(f"not running (data dir {broker.data_dir})")
                return 3
            broker.wait_ready(timeout=10)
            print(f"running: pid {pid}, bootstrap {broker.bootstrap}, data {broker.data_dir}")
    except BrokerError as exc:
        print(f"error: {exc}")
        return 1
    return 0
