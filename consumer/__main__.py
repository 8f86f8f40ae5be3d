"""``python -m consumer [flags]``: the same as ``dsa110-stream consume [flags]``.

Handy where only the consumer is installed or wanted (a slim container, the tests).
"""

from __future__ import annotations

import argparse
import sys

from consumer.cli import register


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["consume", *sys.argv[1:]])
    sys.argv = sys.argv[:1]  # casaconfig parses sys.argv when casatools is imported
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
