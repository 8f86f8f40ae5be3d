"""What to simulate: the observation, the sky, and which hard cases to produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from simulator.sky import PointSource
from simulator.telescope import (
    CHANNELS_PER_SUBBAND,
    INTEGRATION_TIME_S,
    N_ANTENNAS_TELESCOPE,
    N_SUBBANDS,
    N_TIMES,
)

#: A fixed default start, so that runs without ``start`` are reproducible.
DEFAULT_START = datetime(2025, 10, 2, 10, 2, 45, tzinfo=UTC)

#: ``(dump index, subband)``: one file of one dump, for the hard-case options.
FileRef = tuple[int, int]

WriteMode = Literal["incremental", "rename"]
CorruptStyle = Literal["truncated", "garbage"]


def parse_start(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 string (naive means UTC)."""
    start = datetime.fromisoformat(value) if isinstance(value, str) else value
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return start.astimezone(UTC)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines a simulated set of dumps (same config + seed → same files).

    Dumps start every ``n_times × 12.884902 s`` (309.237648 s for 24 integrations).
    Each file's name carries its dump's start plus a uniform random jitter in
    ``jitter_s`` (seconds, truncated to whole seconds as in the correlator's names).

    Hard cases, each a tuple of ``(dump, subband)`` references:

    * ``missing``: never written.
    * ``duplicates``: a second, identical file for the subband, its name 1–3 s later,
      written after the rest of its dump.
    * ``late``: written after every file of dump ``dump + late_by_dumps``.
    * ``corrupt``: written under the right name but unreadable
      (``corrupt_style``: "truncated" HDF5 or random "garbage" bytes).
    * ``misnamed``: written under a name the grouping rule rejects (in turn:
      ``..._sbNN`` with NN ≥ 16, a stem with ``-`` for ``:``, no ``_sbNN`` at all).

    ``shuffle`` randomises the writing order within each dump (the 16 correlator nodes
    finish in no particular order). ``straddle_grid_edge`` moves the start so that the
    first dump's file names fall on both sides of a 5-minute grid edge
    (``grid_offset_s`` = 150 puts the edge at :02:30/:07:30, where rounding splits).
    ``write_mode`` "incremental" writes each file in place, integration by integration,
    like the correlator; "rename" writes ``<name>.tmp`` and renames it into place.
    """

    n_antennas: int = 6
    station_numbers: tuple[int, ...] | None = None
    station_table: Path | None = None
    n_dumps: int = 1
    start: datetime | str = DEFAULT_START
    pointing_dec_deg: float = 55.0
    n_times: int = N_TIMES
    integration_time_s: float = INTEGRATION_TIME_S
    n_channels_per_subband: int = CHANNELS_PER_SUBBAND
    subbands: tuple[int, ...] = tuple(range(N_SUBBANDS))
    sources: tuple[PointSource, ...] | None = None
    noise_jy: float = 0.0
    jitter_s: tuple[float, float] = (0.0, 10.0)
    seed: int = 0
    straddle_grid_edge: bool = False
    grid_s: float = 300.0
    grid_offset_s: float = 0.0
    missing: tuple[FileRef, ...] = ()
    duplicates: tuple[FileRef, ...] = ()
    late: tuple[FileRef, ...] = ()
    late_by_dumps: int = 2
    corrupt: tuple[FileRef, ...] = ()
    corrupt_style: CorruptStyle = "truncated"
    misnamed: tuple[FileRef, ...] = ()
    shuffle: bool = False
    write_mode: WriteMode = "incremental"
    write_lst_array: bool = False
    _start: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_start", parse_start(self.start))
        object.__setattr__(self, "subbands", tuple(sorted(set(self.subbands))))
        for name in ("missing", "duplicates", "late", "corrupt", "misnamed"):
            object.__setattr__(self, name, tuple(tuple(ref) for ref in getattr(self, name)))
        self._validate()

    @property
    def start_time(self) -> datetime:
        """``start`` as an aware UTC datetime."""
        return self._start

    def _validate(self) -> None:
        if self.station_numbers is None:
            if not 1 <= self.n_antennas <= N_ANTENNAS_TELESCOPE:
                raise ValueError(f"n_antennas must be 1..117, got {self.n_antennas}")
        elif len(set(self.station_numbers)) != len(self.station_numbers):
            raise ValueError("station_numbers has duplicates")
        if self.n_dumps < 1 or self.n_times < 1:
            raise ValueError("n_dumps and n_times must be at least 1")
        if not self.subbands or not all(0 <= sb < N_SUBBANDS for sb in self.subbands):
            raise ValueError(f"subbands must be a non-empty subset of 0..{N_SUBBANDS - 1}")
        lo, hi = self.jitter_s
        if not 0 <= lo <= hi:
            raise ValueError(f"jitter_s must be (lo, hi) with 0 <= lo <= hi, got {self.jitter_s}")
        if self.straddle_grid_edge and hi - lo < 2:
            raise ValueError("straddle_grid_edge needs a jitter range of at least 2 s")
        if self.noise_jy < 0:
            raise ValueError("noise_jy must be >= 0")
        if self.late_by_dumps < 1:
            raise ValueError("late_by_dumps must be >= 1")
        if not abs(self.pointing_dec_deg) <= 90:
            raise ValueError("pointing_dec_deg must be within ±90")
        for name in ("missing", "duplicates", "late", "corrupt", "misnamed"):
            for dump, subband in getattr(self, name):
                if not 0 <= dump < self.n_dumps or subband not in self.subbands:
                    raise ValueError(
                        f"{name}: ({dump}, {subband}) is not a simulated file "
                        f"(dumps 0..{self.n_dumps - 1}, subbands {list(self.subbands)})"
                    )
        removed = set(self.missing)
        for name in ("duplicates", "late", "corrupt", "misnamed"):
            clash = removed & set(getattr(self, name))
            if clash:
                raise ValueError(f"{name} and missing both name {sorted(clash)}")
