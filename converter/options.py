"""What a conversion is asked to do (:class:`ConversionOptions`) and what it did
(:class:`ConversionResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astropy.coordinates import Angle

from converter.grouping import N_SUBBANDS


@dataclass(frozen=True)
class ConversionOptions:
    """Choices for one conversion; the defaults give the standard MS of DOMAIN.md §3.

    ``ra``/``dec`` (J2000) replace the default phase centre (the meridian at the dump's
    mid-time); give both or neither. ``flux_jy`` writes a MODEL_DATA column holding a
    calibrator of that flux at the phase centre (spectral index −0.7, primary beam
    attenuated). ``imaging_columns`` adds MODEL_DATA (the calibrator model, or 1) and
    CORRECTED_DATA (= DATA). ``antenna_positions`` is the DSA-110 station table (CSV)
    whose positions replace the files' own. ``channels_per_subband`` makes every file
    prove that many channels (``None``: they must merely agree). ``scratch_dir`` is where
    the MS is built before it is renamed into place; it must be on the output's file
    system (default: a hidden sibling of the output).
    """

    ra: Angle | None = None
    dec: Angle | None = None
    flux_jy: float | None = None
    antenna_positions: Path | None = None
    imaging_columns: bool = False
    force: bool = False
    scratch_dir: Path | None = None
    expected_subbands: int = N_SUBBANDS
    channels_per_subband: int | None = None

    def __post_init__(self) -> None:
        if (self.ra is None) != (self.dec is None):
            raise ValueError("give both ra and dec for a custom phase centre, or neither")
        if self.dec is not None and abs(Angle(self.dec).deg) > 90:
            raise ValueError(f"dec must be within ±90 deg, got {Angle(self.dec).deg} deg")
        if self.flux_jy is not None and not self.flux_jy > 0:
            raise ValueError(f"flux_jy must be a positive number of Jy, got {self.flux_jy}")
        if not 1 <= self.expected_subbands <= N_SUBBANDS:
            raise ValueError(f"expected_subbands must be 1..{N_SUBBANDS}")
        if self.channels_per_subband is not None and self.channels_per_subband < 1:
            raise ValueError("channels_per_subband must be a positive integer")

    def manifest_record(self) -> dict[str, Any]:
        """The options that shape the MS, in JSON form, for the manifest.

        ``force`` and ``scratch_dir`` change how, not what, and are left out, so a forced
        re-run still writes a manifest that matches an unforced one.
        """
        return {
            "ra_deg": None if self.ra is None else float(Angle(self.ra).deg),
            "dec_deg": None if self.dec is None else float(Angle(self.dec).deg),
            "flux_jy": self.flux_jy,
            "antenna_positions": (
                None if self.antenna_positions is None else str(self.antenna_positions.resolve())
            ),
            "imaging_columns": self.imaging_columns,
            "expected_subbands": self.expected_subbands,
            "channels_per_subband": self.channels_per_subband,
        }


@dataclass(frozen=True)
class InputFile:
    """One input file as it was when the conversion read it."""

    path: Path
    size_bytes: int
    mtime_ns: int

    @property
    def mtime(self) -> datetime:
        """Modification time, aware UTC (microsecond precision)."""
        return datetime.fromtimestamp(self.mtime_ns / 1e9, tz=UTC)

    @classmethod
    def stat(cls, path: Path) -> InputFile:
        info = path.stat()
        return cls(path=path.resolve(), size_bytes=info.st_size, mtime_ns=info.st_mtime_ns)

    def record(self) -> dict[str, Any]:
        return {"path": str(self.path), "size_bytes": self.size_bytes, "mtime_ns": self.mtime_ns}


@dataclass(frozen=True)
class ConversionResult:
    """What was written (or reused) at ``ms_path``; every figure is measured, not assumed."""

    ms_path: Path
    group_id: str
    subbands_present: tuple[int, ...]
    subbands_missing: tuple[int, ...]
    n_rows: int
    n_channels: int
    freq_min_hz: float
    freq_max_hz: float
    time_start: datetime
    time_end: datetime
    phase_center_ra_rad: float
    phase_center_dec_rad: float
    pointing_dec_rad: float
    field_name: str
    stage_seconds: dict[str, float]
    input_files: tuple[InputFile, ...]
    reused: bool
    software_version: str
    ms_bytes: int

    def record(self) -> dict[str, Any]:
        """JSON form (the manifest stores it, and :meth:`from_record` reads it back)."""
        return {
            "ms_path": str(self.ms_path),
            "group_id": self.group_id,
            "subbands_present": list(self.subbands_present),
            "subbands_missing": list(self.subbands_missing),
            "n_rows": self.n_rows,
            "n_channels": self.n_channels,
            "freq_min_hz": self.freq_min_hz,
            "freq_max_hz": self.freq_max_hz,
            "time_start": self.time_start.isoformat(),
            "time_end": self.time_end.isoformat(),
            "phase_center_ra_rad": self.phase_center_ra_rad,
            "phase_center_dec_rad": self.phase_center_dec_rad,
            "pointing_dec_rad": self.pointing_dec_rad,
            "field_name": self.field_name,
            "stage_seconds": dict(self.stage_seconds),
            "input_files": [f.record() for f in self.input_files],
            "software_version": self.software_version,
            "ms_bytes": self.ms_bytes,
        }

    @classmethod
    def from_record(
        cls, record: dict[str, Any], *, ms_path: Path, reused: bool
    ) -> ConversionResult:
        return cls(
            ms_path=ms_path,
            group_id=record["group_id"],
            subbands_present=tuple(record["subbands_present"]),
            subbands_missing=tuple(record["subbands_missing"]),
            n_rows=int(record["n_rows"]),
            n_channels=int(record["n_channels"]),
            freq_min_hz=float(record["freq_min_hz"]),
            freq_max_hz=float(record["freq_max_hz"]),
            time_start=datetime.fromisoformat(record["time_start"]),
            time_end=datetime.fromisoformat(record["time_end"]),
            phase_center_ra_rad=float(record["phase_center_ra_rad"]),
            phase_center_dec_rad=float(record["phase_center_dec_rad"]),
            pointing_dec_rad=float(record["pointing_dec_rad"]),
            field_name=record["field_name"],
            stage_seconds={k: float(v) for k, v in record["stage_seconds"].items()},
            input_files=tuple(
                InputFile(Path(f["path"]), int(f["size_bytes"]), int(f["mtime_ns"]))
                for f in record["input_files"]
            ),
            reused=reused,
            software_version=record["software_version"],
            ms_bytes=int(record["ms_bytes"]),
        )
