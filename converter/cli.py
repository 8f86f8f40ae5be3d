"""``dsa110-stream convert``, ``groups`` and ``convert-dir``: the converter without Kafka.

Only the standard library is imported at module level; numpy, astropy, pyuvdata and
casacore are imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from converter.isolated import IsolatedConverter

EXIT_FAILED = 1
EXIT_BAD_INPUT = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``convert``, ``groups`` and ``convert-dir`` subcommands."""
    _add_convert(subparsers)
    _add_groups(subparsers)
    _add_convert_dir(subparsers)


def _add_convert(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert the subband files of one dump into one Measurement Set",
        description=(
            "Check the subband files of one dump (same times, baselines, antennas and "
            "polarisations; distinct, non-overlapping frequencies), then write one MS: "
            "768 channels ascending in one spectral window (a missing subband's channels "
            "flagged), data re-phased from the correlator's meridian drift to one J2000 "
            "centre (default: the meridian at the dump's mid-time), UVW in float64. The MS "
            "is built in a scratch directory and renamed into place with manifest.json; an "
            "existing MS with a matching manifest is reused unless --force."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="subband files")
    parser.add_argument("--output", required=True, type=Path, metavar="OUT.ms")
    _add_conversion_options(parser)
    parser.add_argument("--ra", type=_angle, metavar="ANGLE", help="J2000 RA, e.g. 2h55m48s")
    parser.add_argument("--dec", type=_angle, metavar="ANGLE", help="J2000 Dec, e.g. 54.9deg")
    parser.add_argument(
        "--flux",
        type=float,
        metavar="JY",
        help="write MODEL_DATA: a calibrator of this flux (Jy at 1.4 GHz) at the phase centre",
    )
    parser.add_argument(
        "--channels-per-subband",
        type=int,
        metavar="N",
        help="require N channels in every file (default: any, but the same in all)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run_convert)


def _add_groups(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "groups",
        help="list the dumps (groups) in a directory of subband files",
        description=(
            "Group INPUT_DIR/*.hdf5 by dump with the producer's rule (anchor clustering of "
            "file-name timestamps, ±150 s) and list each group with its subbands. Reads "
            "file names only."
        ),
    )
    parser.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    _add_time_range(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run_groups)


def _add_convert_dir(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-dir",
        help="convert every dump in a directory (archives, backlogs)",
        description=(
            "Group INPUT_DIR/*.hdf5 like `groups` and convert each group with at least "
            "--min-subbands files into OUTPUT_DIR/<group_id>.ms, one after the other, with "
            "a progress bar and a summary. Groups whose MS exists with a matching manifest "
            "are reused. A failed group does not stop the run; the exit status is 1 if any "
            "group failed."
        ),
    )
    parser.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR")
    _add_time_range(parser)
    _add_conversion_options(parser)
    parser.add_argument(
        "--min-subbands",
        type=int,
        default=16,
        metavar="N",
        help="convert groups with at least N subbands, flagging the missing ones "
        "(default 16: complete groups only; incomplete ones are listed)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be converted, convert nothing"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_convert_dir)


def _add_conversion_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--antenna-positions",
        type=Path,
        metavar="CSV",
        help="take antenna positions from the DSA-110 station table instead of the files",
    )
    parser.add_argument(
        "--imaging-columns",
        action="store_true",
        help="also write MODEL_DATA and CORRECTED_DATA (CASA creates them when needed)",
    )
    parser.add_argument("--force", action="store_true", help="convert even if a matching MS exists")
    parser.add_argument(
        "--scratch-dir",
        type=Path,
        metavar="DIR",
        help="build the MS here, on the output's file system (default: next to the output)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def _add_time_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--start", type=_utc_time, metavar="T", help="first group id to include (UTC, ISO 8601)"
    )
    parser.add_argument(
        "--end", type=_utc_time, metavar="T", help="last group id to include (UTC, ISO 8601)"
    )


def run_convert(args: argparse.Namespace) -> int:
    from dsa110_stream.logs import configure_logging

    configure_logging(args.log_level)
    from converter import ConversionError, ConversionOptions, InputValidationError

    try:
        options = ConversionOptions(
            ra=args.ra,
            dec=args.dec,
            flux_jy=args.flux,
            antenna_positions=args.antenna_positions,
            imaging_columns=args.imaging_columns,
            force=args.force,
            scratch_dir=args.scratch_dir,
            channels_per_subband=args.channels_per_subband,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        # In a worker process: an input truncated while it is read (SIGBUS) or the OOM
        # killer ends the worker, and this command reports it instead of dying. Forked
        # once the converter is loaded here, so it is not loaded twice.
        import converter.convert  # noqa: F401

        with isolated_converter(args.log_level, start_method="fork") as worker:
            result = worker.convert(args.files, args.output, options)
    except InputValidationError as exc:
        print(f"bad input: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ConversionError, OSError) as exc:
        print(f"conversion failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps({**result.record(), "reused": result.reused}, indent=2))
    else:
        action = "reused" if result.reused else "wrote"
        print(
            f"{action} {result.ms_path}: {result.n_rows} rows × {result.n_channels} channels "
            f"({result.freq_min_hz / 1e6:.3f}–{result.freq_max_hz / 1e6:.3f} MHz), field "
            f"{result.field_name}, missing subbands {list(result.subbands_missing) or 'none'}, "
            f"{result.stage_seconds.get('total', 0.0):.1f} s"
        )
    return 0


def run_groups(args: argparse.Namespace) -> int:
    from converter.batch import list_subband_files
    from converter.errors import ConversionError
    from converter.grouping import find_subband_groups

    try:
        files = list_subband_files(args.input_dir)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    groups, rejected = find_subband_groups(files, start=args.start, end=args.end)
    if args.json:
        document: dict[str, Any] = {
            "groups": [
                {
                    "group_id": g.group_id,
                    "complete": g.complete,
                    "subbands": sorted(g.files),
                    "missing": list(g.missing),
                    "files": {f"{sb:02d}": str(p) for sb, p in sorted(g.files.items())},
                    "duplicates": [str(p) for p in g.duplicates],
                }
                for g in groups
            ],
            "rejected": [{"path": str(p), "reason": reason} for p, reason in rejected],
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"{'group id':<20} {'subbands':>8}  missing / duplicates")
    for g in groups:
        notes = []
        if g.missing:
            notes.append("missing " + ",".join(f"sb{sb:02d}" for sb in g.missing))
        if g.duplicates:
            notes.append("duplicates " + ", ".join(p.name for p in g.duplicates))
        print(f"{g.group_id:<20} {len(g.files):>5}/16  {'; '.join(notes) or '-'}")
    complete = sum(g.complete for g in groups)
    print(f"{len(groups)} groups ({complete} complete), {len(files)} files")
    for path, reason in rejected:
        print(f"rejected {path.name}: {reason}")
    return 0


def run_convert_dir(args: argparse.Namespace) -> int:
    from dsa110_stream.logs import configure_logging

    configure_logging(args.log_level)
    from tqdm import tqdm

    from converter.batch import plan_batch, run_batch
    from converter.errors import ConversionError
    from converter.options import ConversionOptions

    try:
        plan = plan_batch(
            args.input_dir,
            args.output_dir,
            start=args.start,
            end=args.end,
            min_subbands=args.min_subbands,
        )
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path, reason in plan.rejected:
        print(f"rejected {path.name}: {reason}", file=sys.stderr)
    for group in plan.incomplete:
        print(
            f"skipping {group.group_id}: {len(group.files)}/16 subbands "
            f"(missing {list(group.missing)}); use --min-subbands to convert it",
            file=sys.stderr,
        )
    if args.dry_run:
        for group, output in plan.to_convert:
            state = "reuse or replace" if output.exists() else "convert"
            print(f"{state} {group.group_id}: {len(group.files)} files → {output}")
        print(f"{len(plan.to_convert)} groups to convert, {len(plan.incomplete)} skipped")
        return 0
    options = ConversionOptions(
        antenna_positions=args.antenna_positions,
        imaging_columns=args.imaging_columns,
        force=args.force,
        scratch_dir=args.scratch_dir,
    )

    def progress(items: Any) -> Any:
        return tqdm(items, desc="converting", unit="dump", disable=args.no_progress)

    worker = isolated_converter(args.log_level)
    summary = run_batch(plan, options, progress=progress, converter=worker)
    times = summary.conversion_seconds
    mean = f", {sum(times) / len(times):.1f} s per conversion" if times else ""
    print(
        f"converted {len(summary.converted)}, reused {len(summary.reused)}, "
        f"failed {len(summary.failed)}, skipped incomplete {len(summary.skipped_incomplete)} "
        f"in {summary.seconds:.1f} s{mean}"
    )
    for group_id, error in summary.failed:
        print(f"FAILED {group_id}: {error}", file=sys.stderr)
    return 0 if summary.ok else EXIT_FAILED


def isolated_converter(log_level: str, start_method: str = "spawn") -> IsolatedConverter:
    """The worker process the commands convert in, logging as this process does
    (``start_method``: see :class:`~converter.isolated.IsolatedConverter`)."""
    from converter.isolated import IsolatedConverter

    return IsolatedConverter(start_conversion_worker, (log_level,), start_method)


def start_conversion_worker(log_level: str) -> None:
    """Runs first in the worker: log as the command does, build tables without locks
    (the worker only builds new MSs)."""
    from dsa110_stream.casa_env import build_tables_without_locks
    from dsa110_stream.logs import configure_logging

    configure_logging(log_level)
    build_tables_without_locks()


def _angle(text: str) -> Any:
    """An astropy Angle from a string with units, e.g. ``43.95deg`` or ``2h55m48s``."""
    from astropy.coordinates import Angle
    from astropy.units import UnitsError

    try:
        return Angle(text)
    except (UnitsError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an angle with a unit (e.g. 43.95deg, 2h55m48s, 54d53m46s)"
        ) from exc


def _utc_time(text: str) -> datetime:
    """ISO 8601 time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2025-10-02T10:02:45)"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
