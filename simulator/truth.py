"""What a simulation wrote and what is in it: the truth file (JSON) and its Python form.

Tests of the converter, producer and consumer compare their results with this record:
source positions and fluxes, each dump's times and expected phase centre, and every
file with its subband, name timestamp, arrival position and hard cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.sky import PointSource

TRUTH_FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileTruth:
    """One file written: where, what it holds, when it arrived, which hard cases apply."""

    path: Path
    dump: int
    subband: int
    filename_timestamp: datetime
    arrival_index: int
    cases: tuple[str, ...]


@dataclass(frozen=True)
class DumpTruth:
    """One dump (one observation, one future Measurement Set).

    ``files`` maps each subband to its file under a valid name (late and corrupt files
    included, duplicates and misnamed files not); ``missing`` lists the subbands with
    no such file. ``meridian_ra_deg``/``meridian_dec_deg`` (ICRS) are the meridian at
    the mid-time, the converter's default phase centre.
    """

    index: int
    start_time: datetime
    mid_time_jd: float
    first_time_jd: float
    last_time_jd: float
    meridian_ra_deg: float
    meridian_dec_deg: float
    files: dict[int, Path]
    missing: tuple[int, ...]
    entries: tuple[FileTruth, ...]


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of :func:`simulator.simulate`; ``files`` is in arrival order."""

    out_dir: Path
    files: list[Path]
    dumps: list[DumpTruth]
    truth_path: Path
    sources: tuple[PointSource, ...]
    pointing_dec_deg: float
    station_numbers: tuple[int, ...]
    config: dict[str, Any]


def write_truth(result: SimulationResult) -> None:
    """Write the truth file atomically (temp file, then rename)."""
    document = {
        "format_version": TRUTH_FORMAT_VERSION,
        "out_dir": str(result.out_dir),
        "pointing_dec_deg": result.pointing_dec_deg,
        "station_numbers": list(result.station_numbers),
        "sources": [
            {"ra_deg": s.ra_deg, "dec_deg": s.dec_deg, "flux_jy": s.flux_jy} for s in result.sources
        ],
        "config": result.config,
        "arrival_order": [str(p) for p in result.files],
        "dumps": [_dump_to_json(d) for d in result.dumps],
    }
    temporary = result.truth_path.with_name(result.truth_path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(result.truth_path)


def load_truth(path: str | Path) -> SimulationResult:
    """Read a truth file back (e.g. one written by ``dsa110-stream simulate``)."""
    path = Path(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format_version") != TRUTH_FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported truth format {doc.get('format_version')!r}")
    return SimulationResult(
        out_dir=Path(doc["out_dir"]),
        files=[Path(p) for p in doc["arrival_order"]],
        dumps=[_dump_from_json(d) for d in doc["dumps"]],
        truth_path=path,
        sources=tuple(PointSource(**s) for s in doc["sources"]),
        pointing_dec_deg=doc["pointing_dec_deg"],
        station_numbers=tuple(doc["station_numbers"]),
        config=doc["config"],
    )


def _dump_to_json(dump: DumpTruth) -> dict[str, Any]:
    return {
        "index": dump.index,
        "start_time": dump.start_time.isoformat(),
        "mid_time_jd": dump.mid_time_jd,
        "first_time_jd": dump.first_time_jd,
        "last_time_jd": dump.last_time_jd,
        "meridian_ra_deg": dump.meridian_ra_deg,
        "meridian_dec_deg": dump.meridian_dec_deg,
        "files": {str(sb): str(p) for sb, p in sorted(dump.files.items())},
        "missing": list(dump.missing),
        "entries": [
            {
                "path": str(f.path),
                "dump": f.dump,
                "subband": f.subband,
                "filename_timestamp": f.filename_timestamp.isoformat(),
                "arrival_index": f.arrival_index,
                "cases": list(f.cases),
            }
            for f in dump.entries
        ],
    }


def _dump_from_json(doc: dict[str, Any]) -> DumpTruth:
    return DumpTruth(
        index=doc["index"],
        start_time=datetime.fromisoformat(doc["start_time"]),
        mid_time_jd=doc["mid_time_jd"],
        first_time_jd=doc["first_time_jd"],
        last_time_jd=doc["last_time_jd"],
        meridian_ra_deg=doc["meridian_ra_deg"],
        meridian_dec_deg=doc["meridian_dec_deg"],
        files={int(sb): Path(p) for sb, p in doc["files"].items()},
        missing=tuple(doc["missing"]),
        entries=tuple(
            FileTruth(
                path=Path(f["path"]),
                dump=f["dump"],
                subband=f["subband"],
                filename_timestamp=datetime.fromisoformat(f["filename_timestamp"]),
                arrival_index=f["arrival_index"],
                cases=tuple(f["cases"]),
            )
            for f in doc["entries"]
        ),
    )
