"""Run a simulation: plan the files, write the truth file, then write the dumps.

:func:`simulate` writes everything as fast as it can; :func:`write_live` writes the
same files with pauses, like the correlator does, so that a producer test can watch
a directory fill up. Both write each slot's files side by side (the 16 correlator
nodes write concurrently), growing them by one integration at a time when paced and
by memory-bounded blocks of integrations otherwise, and close them in arrival order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from astropy.time import Time

from simulator.config import SimulationConfig
from simulator.plan import CORRUPT, DUPLICATE, MISNAMED, Plan, PlannedFile, make_plan
from simulator.sky import PointSource, meridian_icrs
from simulator.stations import default_station_table, read_station_table
from simulator.telescope import (
    N_ANTENNAS_TELESCOPE,
    N_SUBBANDS,
    ArrayLayout,
    build_layout,
    channel_width_hz,
    spread_stations,
    subband_frequencies,
)
from simulator.truth import DumpTruth, FileTruth, SimulationResult, write_truth
from simulator.uvh5_writer import CorrelatorFileWriter, FileHeader
from simulator.visibilities import (
    DumpModel,
    build_dump_model,
    integration_times_jd,
    visibilities,
)

log = structlog.get_logger(__name__)

#: Visibilities per append when writing unpaced (~16 MB of complex64): bounds memory.
BLOCK_VISIBILITIES = 2**21
#: Size of a "garbage" corrupt file.
GARBAGE_BYTES = 64 * 1024
TEMP_SUFFIX = ".tmp"

FileCallback = Callable[[FileTruth], None]
#: Called with (slot, integration index) once that integration is flushed to every
#: in-place file of the slot.
IntegrationCallback = Callable[[int, int], None]


def simulate(
    out_dir: str | Path, config: SimulationConfig, *, truth_path: Path | None = None
) -> SimulationResult:
    """Write every dump of ``config`` into ``out_dir`` (created) plus a truth file.

    The truth file defaults to ``out_dir/truth.json``; pass ``truth_path`` to keep it
    out of a directory that a producer watches.
    """
    return write_live(out_dir, config, truth_path=truth_path)


def write_live(
    out_dir: str | Path,
    config: SimulationConfig,
    *,
    integration_delay_s: float = 0.0,
    file_delay_s: float = 0.0,
    on_file_complete: FileCallback | None = None,
    on_integration: IntegrationCallback | None = None,
    truth_path: Path | None = None,
) -> SimulationResult:
    """Write the dumps like the correlator, pausing as it would.

    For each slot (a dump, followed by late files of earlier dumps) the files that are
    written in place (``write_mode`` "incremental") are created together and grown by
    one integration at a time, ``integration_delay_s`` apart; then every file of the
    slot is completed in arrival order, ``file_delay_s`` apart: an incremental file is
    closed, a "rename" or corrupt file is written under a ``.tmp`` name and renamed into
    place. ``on_file_complete`` is called after each file is final, ``on_integration``
    after each integration of the in-place files (a test can inspect half-written
    files there). The truth file is written before the first data file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    setup = _Setup.create(config)
    result = _result(out, config, setup, truth_path or out / "truth.json")
    write_truth(result)
    entries = {(e.dump, e.path.name): e for d in result.dumps for e in d.entries}
    writer = _DumpWriter(
        out=out,
        config=config,
        setup=setup,
        integration_delay_s=integration_delay_s,
        file_delay_s=file_delay_s,
        on_file_complete=(
            (lambda f: on_file_complete(entries[(f.dump, f.name)])) if on_file_complete else None
        ),
        on_integration=on_integration,
    )
    for slot in range(config.n_dumps + 1):
        writer.write_slot(slot)
    log.info("simulation written", out_dir=str(out), files=len(result.files))
    return result


@dataclasses.dataclass(frozen=True)
class _Setup:
    """Everything derived from a config before writing: antennas, sources, plan."""

    layout: ArrayLayout
    station_numbers: tuple[int, ...]
    sources: tuple[PointSource, ...]
    plan: Plan
    dump_times_jd: tuple[npt.NDArray, ...]

    @classmethod
    def create(cls, config: SimulationConfig) -> _Setup:
        table = config.station_table or default_station_table()
        stations = read_station_table(table)
        numbers = config.station_numbers or tuple(spread_stations(stations, config.n_antennas))
        layout = build_layout(stations, numbers)
        plan = make_plan(config)
        times = tuple(
            integration_times_jd(
                Time(d.start_time).utc.jd, config.n_times, config.integration_time_s
            )
            for d in plan.dumps
        )
        sources = config.sources
        if sources is None:
            ra, dec = meridian_icrs(float(times[0].mean()), np.deg2rad(config.pointing_dec_deg))
            sources = (PointSource(ra_deg=ra, dec_deg=dec, flux_jy=1.0),)
        return cls(layout, tuple(sorted(numbers)), tuple(sources), plan, times)


def _result(
    out: Path, config: SimulationConfig, setup: _Setup, truth_path: Path
) -> SimulationResult:
    arrival = {f: i for i, f in enumerate(setup.plan.files)}
    dumps = []
    for dump in setup.plan.dumps:
        times = setup.dump_times_jd[dump.index]
        ra, dec = meridian_icrs(float(times.mean()), np.deg2rad(config.pointing_dec_deg))
        planned = [f for f in setup.plan.files if f.dump == dump.index]
        entries = tuple(
            FileTruth(
                path=out / f.name,
                dump=f.dump,
                subband=f.subband,
                filename_timestamp=f.filename_timestamp,
                arrival_index=arrival[f],
                cases=f.cases,
            )
            for f in planned
        )
        files = {
            f.subband: out / f.name
            for f in planned
            if MISNAMED not in f.cases and DUPLICATE not in f.cases
        }
        dumps.append(
            DumpTruth(
                index=dump.index,
                start_time=dump.start_time,
                mid_time_jd=float(times.mean()),
                first_time_jd=float(times[0]),
                last_time_jd=float(times[-1]),
                meridian_ra_deg=ra,
                meridian_dec_deg=dec,
                files=files,
                missing=tuple(sb for sb in range(N_SUBBANDS) if sb not in files),
                entries=entries,
            )
        )
    return SimulationResult(
        out_dir=out,
        files=[out / f.name for f in setup.plan.files],
        dumps=dumps,
        truth_path=truth_path,
        sources=setup.sources,
        pointing_dec_deg=config.pointing_dec_deg,
        station_numbers=setup.station_numbers,
        config=_config_to_json(config, setup),
    )


@dataclasses.dataclass
class _DumpWriter:
    """Writes the planned files slot by slot, with the pacing and callbacks asked for.

    Without pacing or an integration callback each file gets all its integrations in
    one append (fast); otherwise one integration at a time. Either way the noise of
    integration ``t`` comes from its own seeded generator, so the files are identical.
    """

    out: Path
    config: SimulationConfig
    setup: _Setup
    integration_delay_s: float
    file_delay_s: float
    on_file_complete: Callable[[PlannedFile], None] | None
    on_integration: IntegrationCallback | None
    models: dict[int, DumpModel] = dataclasses.field(default_factory=dict)

    def write_slot(self, slot: int) -> None:
        planned = [f for f in self.setup.plan.files if f.slot == slot]
        in_place = [
            f for f in planned if self.config.write_mode == "incremental" and CORRUPT not in f.cases
        ]
        paced = bool(self.integration_delay_s or self.on_integration)
        step = 1 if paced else self._block_integrations()
        writers: dict[PlannedFile, CorrelatorFileWriter] = {}
        try:
            for f in in_place:
                writers[f] = CorrelatorFileWriter(self.out / f.name, self._header(f))
            for first in range(0, self.config.n_times, step):
                stop = min(first + step, self.config.n_times)
                for f in in_place:
                    self._append(writers[f], f, first, stop)
                    writers[f].flush()
                if in_place and paced:
                    if self.on_integration:
                        self.on_integration(slot, first)
                    time.sleep(self.integration_delay_s)
            for f in planned:
                if f in writers:
                    writers.pop(f).close()
                else:
                    self._write_whole(f)
                if self.on_file_complete:
                    self.on_file_complete(f)
                time.sleep(self.file_delay_s)
        finally:
            for open_writer in writers.values():
                open_writer.close()
        self._forget_models_before(slot + 1 - self.config.late_by_dumps)

    def _block_integrations(self) -> int:
        """Integrations per append when not paced: few appends, bounded memory."""
        per_integration = self.setup.layout.n_baselines * self.config.n_channels_per_subband
        return max(1, min(self.config.n_times, BLOCK_VISIBILITIES // per_integration))

    def _write_whole(self, f: PlannedFile) -> None:
        """Write under a temporary name, damage the file if it is to be corrupt, rename."""
        final = self.out / f.name
        temporary = final.with_name(final.name + TEMP_SUFFIX)
        if CORRUPT in f.cases and self.config.corrupt_style == "garbage":
            rng = np.random.default_rng([self.config.seed, f.dump, f.subband, 1])
            temporary.write_bytes(rng.bytes(GARBAGE_BYTES))
        else:
            step = self._block_integrations()
            with CorrelatorFileWriter(temporary, self._header(f)) as writer:
                for first in range(0, self.config.n_times, step):
                    self._append(writer, f, first, min(first + step, self.config.n_times))
            if CORRUPT in f.cases:
                with temporary.open("r+b") as handle:
                    handle.truncate(temporary.stat().st_size // 2)
        temporary.replace(final)

    def _append(self, writer: CorrelatorFileWriter, f: PlannedFile, first: int, stop: int) -> None:
        model = self._model(f.dump)
        freqs = subband_frequencies(f.subband, self.config.n_channels_per_subband)
        block = slice(first, stop)
        vis = np.empty((stop - first, model.n_baselines, freqs.size), dtype=np.complex64)
        for t in range(first, stop):
            rng = np.random.default_rng([self.config.seed, f.dump, f.subband, t])
            vis[t - first] = visibilities(model, freqs, slice(t, t + 1), self.config.noise_jy, rng)[
                0
            ]
        writer.append(model.times_jd[block], model.lst_rad[block], model.uvw_m[block], vis)

    def _model(self, dump: int) -> DumpModel:
        if dump not in self.models:
            self.models[dump] = build_dump_model(
                self.setup.layout,
                self.setup.sources,
                self.setup.dump_times_jd[dump],
                np.deg2rad(self.config.pointing_dec_deg),
            )
        return self.models[dump]

    def _forget_models_before(self, dump: int) -> None:
        """Drop geometry no later slot needs (late files reuse their dump's model)."""
        for old in [d for d in self.models if d < dump]:
            del self.models[old]

    def _header(self, f: PlannedFile) -> FileHeader:
        return _header(self.config, self.setup, f)


def _header(config: SimulationConfig, setup: _Setup, f: PlannedFile) -> FileHeader:
    return FileHeader(
        layout=setup.layout,
        freqs_hz=subband_frequencies(f.subband, config.n_channels_per_subband),
        channel_width_hz=channel_width_hz(config.n_channels_per_subband),
        pointing_dec_rad=float(np.deg2rad(config.pointing_dec_deg)),
        integration_time_s=config.integration_time_s,
        history=(
            f"Simulated by dsa110-stream {_version()} (simulator, DSA-110 correlator "
            f"layout), seed {config.seed}, dump {f.dump}, subband {f.subband}."
        ),
        applied_delays_ns=" ".join(["0"] * (2 * N_ANTENNAS_TELESCOPE)),
        write_lst_array=config.write_lst_array,
    )


def _config_to_json(config: SimulationConfig, setup: _Setup) -> dict[str, Any]:
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    fields["start"] = config.start_time.isoformat()
    fields["station_table"] = str(config.station_table) if config.station_table else None
    fields["sources"] = [dataclasses.asdict(s) for s in setup.sources]
    for name in ("missing", "duplicates", "late", "corrupt", "misnamed", "subbands"):
        fields[name] = [list(v) if isinstance(v, tuple) else v for v in fields[name]]
    fields["jitter_s"] = list(config.jitter_s)
    if config.station_numbers is not None:
        fields["station_numbers"] = list(config.station_numbers)
    return fields


def _version() -> str:
    try:
        return metadata.version("dsa110-stream")
    except metadata.PackageNotFoundError:
        return "unknown"
