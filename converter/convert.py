"""``convert_group``: the subband files of one dump → one Measurement Set.

Stages, each timed: ``inspect`` (stat the inputs, look for a reusable MS), ``validate``
(every file's header and chunk index, read in parallel processes, and the checks that
they fit together, before any heavy work: :mod:`converter.survey`), ``geometry`` (phase
centre, uvw and the w change of every row), ``create`` (MS skeleton, subtables, per-row
columns), the overlapping block stages ``read_rephase`` and ``write`` (``wait_read``:
the compute waiting for the disk; ``wait_write``: for a free output buffer), ``flush``
(casacore closes the table) and ``publish`` (fsync and rename into place). Once the
inputs are validated, the disk reads them ahead in the order the blocks need them
(:mod:`converter.prefetch`), while the CPU sets up and then computes.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from astropy.coordinates import EarthLocation
from astropy.time import Time
from pyuvdata.utils.pol import determine_pol_order

from converter.astrometry import (
    PhaseCenter,
    RowGeometry,
    antenna_itrf,
    array_location,
    choose_phase_center,
    meridian_center,
    offline_earth_orientation,
    preload_astrometry,
    row_geometry,
)
from converter.blocks import (
    BlockInputs,
    check_readers_match,
    plan_blocks,
    read_steps,
    stream_blocks,
)
from converter.earth_orientation import load_earth_orientation
from converter.errors import ConversionError, InputValidationError
from converter.inputs import GroupInputs, SubbandHeader, check_group_inputs
from converter.manifest import (
    StagingArea,
    check_replaceable,
    manifest_document,
    package_version,
    reusable_manifest,
    reuse_key,
    software_versions,
)
from converter.model import calibrator_model
from converter.ms_layout import MainTableShape, tile_rows
from converter.ms_subtables import SOURCE_KEYWORD, SubtableContents, write_subtables
from converter.ms_writer import MainTableWriter, RowMetadata
from converter.options import ConversionOptions, ConversionResult, InputFile
from converter.prefetch import Prefetcher
from converter.reader import DatasetLayout, SubbandReader
from converter.rephase import load_kernels
from converter.stations import station_positions
from converter.survey import Survey
from converter.telescope import DISH_DIAMETER_M
from converter.timing import StageTimer

log = structlog.get_logger(__name__)

_SECONDS_PER_DAY = 86400.0


def convert_group(
    files: Sequence[Path],
    output: Path,
    options: ConversionOptions | None = None,
) -> ConversionResult:
    """Convert one group's subband files into the MS ``output`` (atomically).

    Raises :class:`InputValidationError` when an input is unusable (permanent) and
    :class:`ConversionError` for other failures; ``OSError`` passes through (it may be
    transient). Nothing is ever left at ``output`` by a failed conversion.
    """
    options = options or ConversionOptions()
    try:
        with offline_earth_orientation():
            return _convert(files, Path(output), options)
    except (ConversionError, OSError):
        raise
    except Exception as exc:
        raise ConversionError(f"conversion to {output} failed: {exc}") from exc


def _convert(files: Sequence[Path], output: Path, options: ConversionOptions) -> ConversionResult:
    timer = StageTimer()
    output = output.absolute()
    paths = [Path(f).absolute() for f in files]
    with timer.stage("inspect"):
        input_files = tuple(_stat(p) for p in paths)
        key = reuse_key(input_files, options.manifest_record())
        manifest = None if options.force else reusable_manifest(output, key)
        if manifest is None:
            check_replaceable(output)
    if manifest is not None:
        result = ConversionResult.from_record(manifest["result"], ms_path=output, reused=True)
        result = dataclasses.replace(result, stage_seconds=timer.seconds())
        log.info("reused existing measurement set", ms=str(output), group_id=result.group_id)
        return result
    with ExitStack() as stack:
        with timer.stage("validate"):
            inputs, layouts = _validate(paths, options)
            readers = {
                subband: stack.enter_context(SubbandReader(header.path, layouts[subband]))
                for subband, header in inputs.headers.items()
            }
            check_readers_match(inputs, readers)
        # From here on the disk reads each block's bytes ahead of the block loop, while
        # the CPU sets up (geometry, the MS skeleton) and then computes.
        blocks = plan_blocks(inputs, readers, tile_rows(inputs.reference.n_blts))
        prefetcher = stack.enter_context(Prefetcher(read_steps(blocks, readers)))
        return _build(inputs, readers, blocks, prefetcher, output, options, input_files, key, timer)


def _validate(
    paths: Sequence[Path], options: ConversionOptions
) -> tuple[GroupInputs, dict[int, dict[str, DatasetLayout]]]:
    """Survey every file (header and chunk index) and check that the headers fit
    together; the layouts of each subband's datasets come back with the checked group."""
    layouts: dict[int, dict[str, DatasetLayout]] = {}
    with Survey(paths) as survey:
        # Only now, with the survey's processes forked: what a fresh process would
        # otherwise load on the critical path (IERS table, kernels, astropy's first calls).
        preload = threading.Thread(target=_preload, name="preload", daemon=True)
        preload.start()

        def headers() -> Iterator[SubbandHeader]:
            for found in survey.results():
                layouts[found.header.subband] = found.layouts
                yield found.header

        inputs = check_group_inputs(
            headers(),
            expected_subbands=options.expected_subbands,
            channels_per_subband=options.channels_per_subband,
        )
    preload.join()
    return inputs, layouts


def _build(
    inputs: GroupInputs,
    readers: dict[int, SubbandReader],
    blocks: list[tuple[int, int]],
    prefetcher: Prefetcher,
    output: Path,
    options: ConversionOptions,
    input_files: tuple[InputFile, ...],
    key: dict[str, Any],
    timer: StageTimer,
) -> ConversionResult:
    bound = log.bind(group_id=inputs.group_id, ms=str(output))
    with timer.stage("geometry"):
        location = array_location(inputs)
        positions = _antenna_positions(inputs, location, options)
        center = choose_phase_center(inputs, location, options.ra, options.dec)
        geometry = row_geometry(inputs, location, center, positions)
        pointing = (
            (center.ra_rad, center.dec_rad)
            if center.is_meridian
            else meridian_center(inputs.mid_time_jd, inputs.reference.pointing_dec_rad, location)
        )
        block_inputs = _block_inputs(inputs, geometry, options)
        rows = _row_metadata(inputs, geometry, block_inputs.conjugate_rows)
    shape = MainTableShape(
        n_rows=inputs.reference.n_blts,
        n_channels=inputs.band.n_channels,
        n_pols=len(inputs.reference.polarizations),
        channels_per_tile=inputs.band.channels_per_subband,
        model_data=block_inputs.model_column,
        corrected_data=options.imaging_columns,
    )
    with StagingArea(output, options.scratch_dir) as staging:
        with timer.stage("create"):
            writer = MainTableWriter(staging.ms_path, shape, rows)
        with writer:
            with timer.stage("create"):
                write_subtables(
                    staging.ms_path,
                    _subtable_contents(
                        inputs, location, positions, center, pointing, rows, options
                    ),
                )
                writer.put_keyword(SOURCE_KEYWORD, f"Table: {staging.ms_path / 'SOURCE'}")
                writer.put_keyword("DSA110_GROUP_ID", inputs.group_id)
            stream_blocks(
                inputs,
                readers,
                writer,
                block_inputs,
                timer,
                blocks,
                ready=prefetcher.wait_for,
                inputs_read=prefetcher.finished,
            )
            with timer.stage("flush"):
                writer.close()
        _check_unchanged(input_files)
        result = _result(inputs, output, center, input_files, timer, staging.ms_path)
        with timer.stage("publish"):
            staging.publish(manifest_document(key, result.record(), timer.seconds()))
    result = dataclasses.replace(result, stage_seconds=timer.seconds())
    bound.info(
        "converted",
        rows=result.n_rows,
        channels=result.n_channels,
        missing=list(result.subbands_missing),
        ms_bytes=result.ms_bytes,
        stage_seconds=result.stage_seconds,
    )
    return result


def _preload() -> None:
    load_earth_orientation()
    preload_astrometry()
    load_kernels()
    software_versions()


def _stat(path: Path) -> InputFile:
    try:
        return InputFile.stat(path)
    except FileNotFoundError as exc:
        raise InputValidationError(path, "file", "does not exist") from exc


def _antenna_positions(
    inputs: GroupInputs, location: EarthLocation, options: ConversionOptions
) -> npt.NDArray[np.float64]:
    ref = inputs.reference
    if options.antenna_positions is None:
        return ref.antenna_positions_m
    number_to_name = dict(zip(ref.antenna_numbers.tolist(), ref.antenna_names, strict=True))
    with_data = {number_to_name[a] for a in np.union1d(ref.ant_1, ref.ant_2).tolist()}
    return station_positions(options.antenna_positions, ref.antenna_names, with_data, location)


def _block_inputs(
    inputs: GroupInputs, geometry: RowGeometry, options: ConversionOptions
) -> BlockInputs:
    ref = inputs.reference
    conjugate = ref.ant_1 > ref.ant_2
    if conjugate.any() and set(ref.polarizations) - {-1, -2, -5, -6}:
        raise InputValidationError(
            ref.path,
            "Header/ant_1_array",
            "rows with ant_1 > ant_2 and cross-hand polarisations: cannot conjugate safely",
        )
    order = [int(i) for i in determine_pol_order(np.array(ref.polarizations), order="CASA")]
    pol_map = tuple(order.index(p) for p in range(len(order)))  # file pol → MS position
    model = None
    if options.flux_jy is not None:
        amplitude = calibrator_model(
            options.flux_jy,
            inputs.band.freqs_hz,
            geometry.center_app_ra_rad,
            geometry.center_app_dec_rad,
            geometry.lst_rad,
            ref.pointing_dec_rad,
        )
        model = amplitude.astype(np.complex64)
    return BlockInputs(
        delta_w_m=geometry.delta_w_m,
        conjugate_rows=conjugate,
        pol_map=pol_map,
        model_per_time=model,
        time_index=geometry.time_index,
        model_column=options.imaging_columns or options.flux_jy is not None,
    )


def _row_metadata(
    inputs: GroupInputs, geometry: RowGeometry, conjugate: npt.NDArray[np.bool_]
) -> RowMetadata:
    ref = inputs.reference
    times_mjd_s = Time(geometry.times_jd, format="jd", scale="utc").mjd * _SECONDS_PER_DAY
    # CASA's baseline is the opposite of UVH5's (see converter.rephase): negate uvw,
    # except on rows whose antennas are swapped to put ANTENNA1 <= ANTENNA2.
    uvw = np.where(conjugate[:, np.newaxis], geometry.uvw_m, -geometry.uvw_m)
    return RowMetadata(
        antenna1=np.minimum(ref.ant_1, ref.ant_2).astype(np.int32),
        antenna2=np.maximum(ref.ant_1, ref.ant_2).astype(np.int32),
        time_mjd_s=np.asarray(times_mjd_s[geometry.time_index], dtype=np.float64),
        interval_s=ref.integration_s,
        uvw_m=np.ascontiguousarray(uvw),
    )


def _subtable_contents(
    inputs: GroupInputs,
    location: EarthLocation,
    positions: npt.NDArray[np.float64],
    center: PhaseCenter,
    pointing: tuple[float, float],
    rows: RowMetadata,
    options: ConversionOptions,
) -> SubtableContents:
    ref = inputs.reference
    n_rows = int(ref.antenna_numbers.max()) + 1  # ANTENNA row = antenna number
    names = [""] * n_rows
    itrf = np.zeros((n_rows, 3))
    absolute = antenna_itrf(location, positions)
    for index, number in enumerate(ref.antenna_numbers.tolist()):
        names[number] = ref.antenna_names[index]
        itrf[number] = absolute[index]
    stations = [f"DSA-{int(n):03d}" if n.isdigit() else n for n in names]
    band = inputs.band
    file_names = ", ".join(h.path.name for h in inputs.headers.values())
    history = [
        f"Converted by dsa110-stream {package_version()} from {len(inputs.present)} subband "
        f"files of group {inputs.group_id}: {file_names}",
        f"Re-phased from the meridian (HA=0, Dec={np.degrees(ref.pointing_dec_rad):.6f} deg "
        f"apparent) to J2000 RA={np.degrees(center.ra_rad):.6f} deg, "
        f"Dec={np.degrees(center.dec_rad):.6f} deg ({center.name})",
    ]
    if inputs.missing:
        history.append(f"Subbands missing, their channels flagged: {list(inputs.missing)}")
    if options.antenna_positions is not None:
        history.append(f"Antenna positions from the station table {options.antenna_positions}")
    return SubtableContents(
        antenna_names=tuple(names),
        antenna_stations=tuple(stations),
        antenna_itrf_m=itrf,
        dish_diameter_m=DISH_DIAMETER_M,
        freqs_hz=band.freqs_hz,
        channel_width_hz=band.channel_width_hz,
        spw_name=f"DSA110_{band.n_subbands}x{band.channels_per_subband}ch",
        polarizations_aips=_casa_order(ref.polarizations),
        field_name=center.name,
        phase_center_rad=(center.ra_rad, center.dec_rad),
        pointing_rad=pointing,
        time_range_mjd_s=(float(rows.time_mjd_s.min()), float(rows.time_mjd_s.max())),
        interval_s=float(ref.integration_s[0]),
        history=tuple(history),
        command_line=tuple(sys.argv),
        software=f"dsa110-stream {package_version()}",
    )


def _casa_order(polarizations: tuple[int, ...]) -> tuple[int, ...]:
    order = determine_pol_order(np.array(polarizations), order="CASA")
    return tuple(int(polarizations[i]) for i in order)


def _check_unchanged(before: tuple[InputFile, ...]) -> None:
    for original in before:
        now = InputFile.stat(original.path)
        if (now.size_bytes, now.mtime_ns) != (original.size_bytes, original.mtime_ns):
            raise ConversionError(
                f"{original.path} changed while it was being converted "
                f"(size {original.size_bytes} → {now.size_bytes}); convert it again when "
                "the file is complete"
            )


def _result(
    inputs: GroupInputs,
    output: Path,
    center: PhaseCenter,
    input_files: tuple[InputFile, ...],
    timer: StageTimer,
    built: Path,
) -> ConversionResult:
    start, end = inputs.time_bounds()
    band = inputs.band
    ms_bytes = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    return ConversionResult(
        ms_path=output,
        group_id=inputs.group_id,
        subbands_present=inputs.present,
        subbands_missing=inputs.missing,
        n_rows=inputs.reference.n_blts,
        n_channels=band.n_channels,
        freq_min_hz=float(band.freqs_hz.min()),
        freq_max_hz=float(band.freqs_hz.max()),
        time_start=start,
        time_end=end,
        phase_center_ra_rad=center.ra_rad,
        phase_center_dec_rad=center.dec_rad,
        pointing_dec_rad=inputs.reference.pointing_dec_rad,
        field_name=center.name,
        stage_seconds=timer.seconds(),
        input_files=input_files,
        reused=False,
        software_version=package_version(),
        ms_bytes=ms_bytes,
    )
