"""``dsa110-stream demo``: the whole pipeline end to end on simulated dumps.

Every step is a real ``dsa110-stream`` command, printed before it runs, so the demo also
shows operators exactly what to type: local broker → simulate → topics → producer
(bootstrap of what is already in the directory) → consumer (until every group is
finished) → status → the Measurement Sets, opened with casacore → broker stop.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from converter.telescope import DUMP_SECONDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on simulated dumps with a local Kafka",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", type=Path, default=Path("demo-output"),
                        help="where the simulated files, MSs and broker data go "
                        "(default: ./demo-output)")
    parser.add_argument("--dumps", type=int, default=2, help="dumps to simulate (default 2)")
    parser.add_argument("--antennas", type=int, default=8,
                        help="data antennas per dump (default 8; the telescope has 117)")
    parser.add_argument("--stations", type=Path, default=None,
                        help="DSA-110 station table CSV (default: DSA110_STATION_TABLE or "
                        "../shared/data/DSA110_Station_Coordinates.csv)")
    parser.add_argument("--keep-broker", action="store_true",
                        help="leave the local broker running afterwards")
    parser.set_defaults(func=run)


def _step(title: str, command: list[str]) -> None:
    print(f"\n==> {title}\n$ {shlex.join(command)}", flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True)
    print(f"    ({time.monotonic() - started:.1f} s)", flush=True)


def run(args: argparse.Namespace) -> int:
    from dsa110_stream.broker.runtime import LocalKafka, free_ports

    workdir = args.workdir.resolve()
    incoming, output = workdir / "incoming", workdir / "ms"
    if workdir.exists() and any(workdir.iterdir()):
        print(f"error: {workdir} is not empty; choose another --workdir or remove it")
        return 2
    exe = [sys.executable, "-m", "dsa110_stream.cli"]
    port, controller = free_ports(2)
    broker = LocalKafka(data_dir=workdir / "kafka", port=port, controller_port=controller)
    print(f"==> starting a local Kafka (data in {broker.data_dir})", flush=True)
    started = time.monotonic()
    bootstrap = broker.start()
    print(f"    Kafka {bootstrap} is up ({time.monotonic() - started:.1f} s)")
    kafka = ["--bootstrap-servers", bootstrap]
    # Recent observation times: the subbands topic refuses events older than 14 days.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(
        seconds=DUMP_SECONDS * (args.dumps + 1)
    )
    simulate = [*exe, "simulate", str(incoming), "--dumps", str(args.dumps),
                "--antennas", str(args.antennas), "--start", start.isoformat()]
    if args.stations is not None:
        simulate += ["--stations", str(args.stations)]
    try:
        _step(f"simulating {args.dumps} dumps × 16 subbands", simulate)
        _step("creating the topics", [*exe, "topics", "create", *kafka, "--partitions", "3",
                                      "--replication-factor", "1"])
        _step("publishing what is already in the ingest directory",
              [*exe, "produce", "--input-dir", str(incoming), *kafka, "--once"])
        _step("converting every group", [*exe, "consume", *kafka, "--data-root", str(incoming),
                                         "--output-dir", str(output),
                                         "--max-groups", str(args.dumps), "--idle-exit", "60"])
        _step("what the operator sees", [*exe, "status", *kafka])
        return _summarise(output, args.dumps)
    except subprocess.CalledProcessError as exc:
        print(f"\ndemo failed: `{shlex.join(exc.cmd)}` exited with {exc.returncode}")
        return 1
    finally:
        if not args.keep_broker:
            broker.stop()
            print("\n==> local Kafka stopped")


def _summarise(output: Path, expected: int) -> int:
    from casacore.tables import table

    made = sorted(output.glob("*.ms"))
    print(f"\n==> {len(made)} Measurement Set(s) in {output}")
    for ms in made:
        with table(str(ms), ack=False) as main, table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
            channels = int(spw.getcell("NUM_CHAN", 0))
            print(f"    {ms.name}: {main.nrows()} rows, {channels} channels")
    if len(made) != expected:
        print(f"error: expected {expected} Measurement Sets, found {len(made)}")
        return 1
    return 0
