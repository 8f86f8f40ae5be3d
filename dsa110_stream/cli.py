"""The ``dsa110-stream`` command: one entry point, one subcommand per job.

Each job package owns its subcommands in its own ``cli`` module, which exposes
``register(subparsers)``. Those modules import only light dependencies at module level,
so ``dsa110-stream --help`` stays fast; heavy imports (pyuvdata, casacore, Kafka) happen
inside the command functions.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dsa110_stream import __version__

#: Modules that contribute subcommands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = (
    "dsa110_stream.broker.cli",
    "simulator.cli",
    "converter.cli",
    "schemas.cli",
    "producer.cli",
    "consumer.cli",
    "operations.cli",
    "dsa110_stream.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """Assemble the top-level parser from every job's ``register`` function."""
    parser = argparse.ArgumentParser(
        prog="dsa110-stream",
        description="DSA-110 subband files → Kafka → calibration-ready Measurement Sets.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a job package that has no commands yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # casaconfig parses sys.argv itself when casatools is first imported; hide ours so that
    # none of our flags is mistaken for one of its own (--configfile, --noconfig, ...).
    sys.argv = sys.argv[:1]
    status = args.func(args)
    return int(status or 0)


if __name__ == "__main__":  # python -m dsa110_stream.cli
    raise SystemExit(main())
