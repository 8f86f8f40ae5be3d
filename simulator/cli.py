"""``dsa110-stream simulate``: write DSA-110 dumps in the correlator's layout, with truth."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

_REF = re.compile(r"^(\d+):(\d+)$")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated subband files (correlator layout) and a truth file",
        description=(
            "Write dumps of 16 subband files exactly as the DSA-110 correlator lays them "
            "out (UVH5, meridian-fringestopped drift scan), point sources at known J2000 "
            "positions, and OUT_DIR/truth.json describing sources, dumps and files. Dumps "
            "start every 309.237648 s; each file name carries 0-10 s of jitter. Hard-case "
            "options name files as DUMP:SUBBAND (both 0-based), e.g. --missing 1:7."
        ),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="directory to write into")
    parser.add_argument("--dumps", type=int, default=1, help="number of dumps (default 1)")
    parser.add_argument(
        "--antennas",
        type=int,
        default=6,
        help="data antennas, spread over the station table (default 6; 117 = full array)",
    )
    parser.add_argument(
        "--station-numbers",
        type=_int_list,
        default=None,
        metavar="N,N,...",
        help="exact stations with data (e.g. 1,24,60); overrides --antennas",
    )
    parser.add_argument(
        "--stations",
        type=Path,
        default=None,
        metavar="CSV",
        help="DSA110_Station_Coordinates.csv (default: $DSA110_STATION_TABLE, "
        "else ../shared/data/ beside the repository)",
    )
    parser.add_argument(
        "--start",
        default=None,
        metavar="ISO",
        help="UTC start of the first dump (default 2025-10-02T10:02:45)",
    )
    parser.add_argument("--dec", type=float, default=55.0, help="pointing Dec, degrees")
    parser.add_argument(
        "--source",
        type=_source,
        action="append",
        default=None,
        metavar="RA,DEC,FLUX",
        help="point source, J2000 degrees and Jy (repeatable; default: 1 Jy on the first "
        "dump's meridian at mid-time)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=0.0,
        metavar="JY",
        help="Gaussian noise rms per real/imaginary part (default 0)",
    )
    parser.add_argument(
        "--jitter",
        type=_float_pair,
        default=(0.0, 10.0),
        metavar="LO,HI",
        help="file-name timestamp jitter range in seconds (default 0,10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--subbands",
        type=_subband_list,
        default=None,
        metavar="LIST",
        help="subbands to write, e.g. 0-15 or 0,3,7 (default all)",
    )
    parser.add_argument(
        "--channels", type=int, default=48, help="channels per subband (default 48)"
    )
    hard = parser.add_argument_group("hard cases")
    for flag, dest, text in (
        ("--missing", "missing", "do not write this file"),
        ("--duplicate", "duplicates", "also write a copy named 1-3 s later"),
        ("--late", "late", "write it after the files of --late-by later dumps"),
        ("--corrupt", "corrupt", "write it unreadable (see --corrupt-style)"),
        ("--misnamed", "misnamed", "write it under a name the grouping rule rejects"),
    ):
        hard.add_argument(
            flag,
            dest=dest,
            type=_ref,
            action="append",
            default=[],
            metavar="DUMP:SB",
            help=f"{text} (repeatable)",
        )
    hard.add_argument(
        "--late-by", type=int, default=2, metavar="N", help="dumps a late file waits (default 2)"
    )
    hard.add_argument("--corrupt-style", choices=("truncated", "garbage"), default="truncated")
    hard.add_argument(
        "--shuffle", action="store_true", help="random arrival order within each dump"
    )
    hard.add_argument(
        "--straddle-edge",
        action="store_true",
        help="start so that the first dump's names straddle a 5-minute grid edge",
    )
    hard.add_argument(
        "--straddle-offset",
        type=float,
        default=0.0,
        metavar="S",
        help="grid offset in seconds: 0 = :00/:05 edges, 150 = :02:30/:07:30 (default 0)",
    )
    live = parser.add_argument_group("writing")
    live.add_argument(
        "--mode",
        choices=("incremental", "rename"),
        default="incremental",
        help="incremental: grow each file in place like the correlator; rename: write "
        "NAME.tmp and rename it into place (default incremental)",
    )
    live.add_argument(
        "--live",
        action="store_true",
        help="pace the writing like the correlator: one integration every "
        "--integration-delay seconds (default: real time, 12.884902 s)",
    )
    live.add_argument(
        "--integration-delay",
        type=float,
        default=None,
        metavar="S",
        help="with --live: seconds between integrations",
    )
    live.add_argument(
        "--file-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="with --live: seconds between completed files",
    )
    live.add_argument(
        "--truth",
        type=Path,
        default=None,
        metavar="PATH",
        help="truth file (default OUT_DIR/truth.json)",
    )
    parser.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Build the configuration from the arguments, write the files, print a summary."""
    from simulator.config import DEFAULT_START, SimulationConfig
    from simulator.run import write_live
    from simulator.sky import PointSource
    from simulator.stations import StationTableError
    from simulator.telescope import INTEGRATION_TIME_S, N_SUBBANDS

    if not args.live and (args.integration_delay or args.file_delay):
        print("error: --integration-delay and --file-delay need --live", file=sys.stderr)
        return 2
    try:
        config = SimulationConfig(
            n_antennas=args.antennas,
            station_numbers=tuple(args.station_numbers) if args.station_numbers else None,
            station_table=args.stations,
            n_dumps=args.dumps,
            start=args.start or DEFAULT_START,
            pointing_dec_deg=args.dec,
            n_channels_per_subband=args.channels,
            sources=tuple(PointSource(*s) for s in args.source) if args.source else None,
            noise_jy=args.noise,
            jitter_s=args.jitter,
            seed=args.seed,
            subbands=tuple(args.subbands) if args.subbands else tuple(range(N_SUBBANDS)),
            **_hard_cases(args),
        )
        delay = args.integration_delay if args.integration_delay is not None else INTEGRATION_TIME_S
        started = time.perf_counter()
        result = write_live(
            args.out_dir,
            config,
            integration_delay_s=delay if args.live else 0.0,
            file_delay_s=args.file_delay if args.live else 0.0,
            truth_path=args.truth,
        )
    except (StationTableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in result.files if p.exists())
    print(
        f"wrote {len(result.files)} files ({size / 1e6:.1f} MB) for {len(result.dumps)} dumps "
        f"of {len(result.station_numbers)} antennas to {result.out_dir} in {elapsed:.1f} s"
    )
    for dump in result.dumps:
        missing = f", missing {list(dump.missing)}" if dump.missing else ""
        print(
            f"  dump {dump.index}: start {dump.start_time.isoformat()}, "
            f"{len(dump.files)} subbands{missing}"
        )
    print(f"truth: {result.truth_path}")
    return 0


def _hard_cases(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "missing": tuple(args.missing),
        "duplicates": tuple(args.duplicates),
        "late": tuple(args.late),
        "late_by_dumps": args.late_by,
        "corrupt": tuple(args.corrupt),
        "corrupt_style": args.corrupt_style,
        "misnamed": tuple(args.misnamed),
        "shuffle": args.shuffle,
        "straddle_grid_edge": args.straddle_edge,
        "grid_offset_s": args.straddle_offset,
        "write_mode": args.mode,
    }


def _ref(text: str) -> tuple[int, int]:
    match = _REF.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected DUMP:SUBBAND (e.g. 0:7), got {text!r}")
    return int(match[1]), int(match[2])


def _source(text: str) -> tuple[float, float, float]:
    parts = _floats(text)
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected RA,DEC,FLUX in degrees and Jy, got {text!r}")
    return parts[0], parts[1], parts[2]


def _float_pair(text: str) -> tuple[float, float]:
    parts = _floats(text)
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LO,HI, got {text!r}")
    return parts[0], parts[1]


def _floats(text: str) -> list[float]:
    try:
        return [float(p) for p in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from exc


def _int_list(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected N,N,..., got {text!r}") from exc


def _subband_list(text: str) -> list[int]:
    """``0-15``, ``0,3,7`` or a mix such as ``0-3,8``."""
    subbands: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            subbands.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected e.g. 0-15 or 0,3,7, got {text!r}") from exc
    return subbands
