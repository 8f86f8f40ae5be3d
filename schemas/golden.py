"""Golden fixtures: encoded events that every later reader must still decode.

For each schema version ``schemas/fixtures/<Name>-v<N>.bin`` holds one event in the wire
format, written by that version, and ``<Name>-v<N>.json`` holds the same record in Avro's
JSON encoding (readable, and typed exactly as the writer schema). Fixtures are written
once, when a version is added, and then never rewritten: they stand for data already in
the topics. ``python -m schemas.golden`` writes the missing ones for the latest versions,
from :data:`SAMPLE_RECORDS` (update those when you add a version).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastavro import json_writer

from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.codec import EventCodec

FIXTURES_DIR = Path(__file__).parent / "fixtures"

#: One realistic record per schema, in the shape of the latest version.
SAMPLE_RECORDS: Mapping[str, Mapping[str, Any]] = {
    "SubbandFile": {
        "event_id": "3f1c2a9e-8b7d-4e65-a1f0-2b9c6d4e8a17",
        "group_id": "2025-09-18T03:14:15",
        "subband": 7,
        "path": "/data/incoming/2025-09-18T03:14:17_sb07.hdf5",
        "relative_path": "2025-09-18T03:14:17_sb07.hdf5",
        "filename_timestamp": datetime(2025, 9, 18, 3, 14, 17, tzinfo=UTC),
        "size_bytes": 171_966_464,
        "mtime": datetime(2025, 9, 18, 3, 19, 29, 123456, tzinfo=UTC),
        "producer_host": "dsa110-producer-0",
        "producer_version": "0.1.0",
        "detected_at": datetime(2025, 9, 18, 3, 19, 31, 500000, tzinfo=UTC),
        "header": {
            "n_times": 24,
            "n_baselines": 4656,
            "n_freqs": 48,
            "n_pols": 2,
            "n_antennas_data": 96,
            "freq_min_hz": 1.4329e9,
            "freq_max_hz": 1.4443e9,
            "time_start_jd": 2460936.635,
            "time_end_jd": 2460936.6385,
            "pointing_dec_rad": 0.6457718232379019,
        },
    },
    "MeasurementSetReady": {
        "event_id": "9a0e4b2c-1d3f-4a5b-8c7d-6e5f4a3b2c1d",
        "group_id": "2025-09-18T03:14:15",
        "ms_path": "/data/ms/2025-09-18T03:14:15.ms",
        "subbands_present": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15],
        "subbands_missing": [13],
        "n_rows": 111_744,
        "n_channels": 768,
        "freq_min_hz": 1.3114e9,
        "freq_max_hz": 1.4991e9,
        "time_start": datetime(2025, 9, 18, 3, 14, 21, 442000, tzinfo=UTC),
        "time_end": datetime(2025, 9, 18, 3, 19, 17, 341000, tzinfo=UTC),
        "phase_center_ra_rad": 0.8587,
        "phase_center_dec_rad": 0.6457718232379019,
        "pointing_dec_rad": 0.6457718232379019,
        "stage_seconds": {"read": 41.2, "phase": 12.5, "write": 33.0, "validate": 2.1},
        "input_files": [
            {
                "path": "/data/incoming/2025-09-18T03:14:17_sb07.hdf5",
                "size_bytes": 171_966_464,
                "mtime": datetime(2025, 9, 18, 3, 19, 29, 123456, tzinfo=UTC),
            }
        ],
        "software_version": "0.1.0",
        "attempt": 1,
        "revision": 1,
        "replay": False,
        "reused": False,
        "produced_at": datetime(2025, 9, 18, 3, 27, 2, 10000, tzinfo=UTC),
    },
    "DeadLetter": {
        "event_id": "c4b3a291-7f6e-4d5c-9b8a-0f1e2d3c4b5a",
        "reason": "UNDECODABLE",
        "message": "magic byte is 0x7b, expected 0x00",
        "source_topic": "dsa110.subbands.v1",
        "source_partition": 3,
        "source_offset": 120_448,
        "key": b"2025-09-18T03:14:15",
        "original": b'{"not": "avro"}',
        "group_id": None,
        "path": None,
        "attempts": 1,
        "failed_at": datetime(2025, 9, 18, 3, 20, 0, tzinfo=UTC),
        "producer_host": "dsa110-consumer-2",
        "producer_version": "0.1.0",
    },
}


def fixture_paths(version: SchemaVersion, fixtures_dir: Path = FIXTURES_DIR) -> tuple[Path, Path]:
    """``(<Name>-v<N>.bin, <Name>-v<N>.json)`` for ``version``."""
    stem = f"{version.name}-v{version.version}"
    return fixtures_dir / f"{stem}.bin", fixtures_dir / f"{stem}.json"


def avro_json(version: SchemaVersion, record: Mapping[str, Any]) -> str:
    """``record`` in Avro's JSON encoding for ``version`` (one line)."""
    out = io.StringIO()
    json_writer(out, version.parsed, [dict(record)])
    return out.getvalue().strip() + "\n"


def write_missing_fixtures(
    catalog: SchemaCatalog, codec: EventCodec, fixtures_dir: Path = FIXTURES_DIR
) -> list[Path]:
    """Write fixtures for latest versions that have none; never overwrite. Returns new files."""
    written = []
    for name in catalog.names:
        latest = catalog.latest(name)
        binary, text = fixture_paths(latest, fixtures_dir)
        if binary.exists() or text.exists():
            continue
        record = SAMPLE_RECORDS[name]
        binary.write_bytes(codec.encode(name, record))
        text.write_text(avro_json(latest, record))
        written += [binary, text]
    return written


def main() -> int:
    """Write the golden fixtures of new schema versions."""
    catalog = SchemaCatalog.load()
    FIXTURES_DIR.mkdir(exist_ok=True)
    written = write_missing_fixtures(catalog, EventCodec(catalog=catalog))
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("every latest schema version already has its golden fixture")
    return 0


if __name__ == "__main__":
    sys.exit(main())
