"""Run a simulation: plan the files, write the truth file, then write the dumps.

:func:`simulate` writes everything as fast as it can; :func:`write_live` writes the
same files with pauses, like the correlator does, so that a producer test can watch
a directory fill up. Both write each slot's files side by side, integration by
integration (the 16 correlator nodes write concurrently), and close them in arrival
order; only one integration of visibilities per file is in memory at a time.
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
    models: dict[int, DumpModel] = {}
    for slot in range(config.n_dumps + 1):
        planned = [f for f in setup.plan.files if f.slot == slot]
        _write_slot(
            out, config, setup, models, planned, integration_delay_s, file_delay_s,
            lambda f: on_file_complete(entries[(f.dump, f.name)]) if on_file_complete else None,
            lambda t, s=slot: on_integration(s, t) if on_integration else None,
        )  # fmt: skip
        models = {d: m for d, m in models.items() if d > slot - config.late_by_dumps - 1}
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


def _write_slot(
    out: Path,
    config: SimulationConfig,
    setup: _Setup,
    models: dict[int, DumpModel],
    planned: list[PlannedFile],
    integration_delay_s: float,
    file_delay_s: float,
    completed: Callable[[PlannedFile], None],
    integrated: Callable[[int], None],
) -> None:
    streamed = [
        f for f in planned if config.write_mode == "incremental" and CORRUPT not in f.cases
    ]
    writers: dict[PlannedFile, CorrelatorFileWriter] = {}
    try:
        for f in streamed:
            writers[f] = CorrelatorFileWriter(out / f.name, _header(config, setup, f))
        for t in range(config.n_times):
            for f in streamed:
                _append(writers[f], config, setup, models, f, t)
                writers[f].flush()
            if streamed:
                integrated(t)
                if integration_delay_s:
                    time.sleep(integration_delay_s)
        for f in planned:
            if f in writers:
                writers.pop(f).close()
            else:
                _write_whole(out, config, setup, models, f)
            completed(f)
            if file_delay_s:
                time.sleep(file_delay_s)
    finally:
        for writer in writers.values():
            writer.close()


def _write_whole(
    out: Path,
    config: SimulationConfig,
    setup: _Setup,
    models: dict[int, DumpModel],
    f: PlannedFile,
) -> None:
    """Write a file under a temporary name, damage it if it is to be corrupt, rename it."""
    final = out / f.name
    temporary = final.with_name(final.name + TEMP_SUFFIX)
    if CORRUPT in f.cases and config.corrupt_style == "garbage":
        rng = np.random.default_rng([config.seed, f.dump, f.subband, 1])
        temporary.write_bytes(rng.bytes(GARBAGE_BYTES))
    else:
        with CorrelatorFileWriter(temporary, _header(config, setup, f)) as writer:
            for t in range(config.n_times):
                _append(writer, config, setup, models, f, t)
        if CORRUPT in f.cases:
            with temporary.open("r+b") as handle:
                handle.truncate(temporary.stat().st_size // 2)
    temporary.replace(final)


def _append(
    writer: CorrelatorFileWriter,
    config: SimulationConfig,
    setup: _Setup,
    models: dict[int, DumpModel],
    f: PlannedFile,
    t: int,
) -> None:
    model = models.get(f.dump)
    if model is None:
        model = build_dump_model(
            setup.layout,
            setup.sources,
            setup.dump_times_jd[f.dump],
            np.deg2rad(config.pointing_dec_deg),
        )
        models[f.dump] = model
    rng = np.random.default_rng([config.seed, f.dump, f.subband, t])
    freqs = subband_frequencies(f.subband, config.n_channels_per_subband)
    one = slice(t, t + 1)
    vis = visibilities(model, freqs, one, config.noise_jy, rng)
    writer.append(model.times_jd[one], model.lst_rad[one], model.uvw_m[one], vis)


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
