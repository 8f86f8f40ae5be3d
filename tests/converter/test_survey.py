"""The survey reads every file's header and chunk index in worker processes and gives
them back in the files' order, each file's error at its turn; the block plan then reads
every input byte a block needs once, before that block."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest

import converter.survey as survey_module
from converter.blocks import plan_blocks, read_steps
from converter.errors import ConversionError, InputValidationError
from converter.inputs import check_group_inputs, read_subband_header
from converter.ms_layout import tile_rows
from converter.reader import SubbandReader, read_layouts
from converter.survey import FileSurvey, Survey
from simulator import SimulationResult
from tests.converter.conftest import dump_files


@pytest.fixture(scope="module")
def files(meridian_dump: SimulationResult) -> list[Path]:
    return dump_files(meridian_dump)


def survey_all(paths: list[Path], processes: int = 3) -> list[FileSurvey]:
    with Survey(paths, processes) as survey:
        return list(survey.results())


def test_results_come_in_the_given_order_and_match_reading_in_process(files):
    paths = files[::-1]
    surveyed = survey_all(paths)
    assert [s.header.path for s in surveyed] == paths
    for found, path in zip(surveyed, paths, strict=True):
        header = read_subband_header(path)
        assert found.header.subband == header.subband
        for name in ("time_jd", "integration_s", "ant_1", "ant_2"):  # packed in transit
            np.testing.assert_array_equal(getattr(found.header, name), getattr(header, name))
        layouts = read_layouts(path)
        assert found.layouts.keys() == layouts.keys()
        for name, layout in layouts.items():
            assert found.layouts[name].grid == layout.grid
            np.testing.assert_array_equal(found.layouts[name].chunk_offsets, layout.chunk_offsets)


def test_a_bad_file_fails_at_its_turn(files, tmp_path):
    garbage = tmp_path / files[1].name
    garbage.write_bytes(os.urandom(4096))
    with Survey([files[0], garbage, files[2]]) as survey:
        results = survey.results()
        assert next(results).header.path == files[0]
        with pytest.raises(InputValidationError) as caught:
            next(results)
    assert caught.value.path == garbage


def test_group_checks_see_the_files_in_the_given_order(files):
    duplicate = [files[0], files[1], files[0]]
    with Survey(duplicate) as survey, pytest.raises(InputValidationError) as caught:
        check_group_inputs((s.header for s in survey.results()), expected_subbands=16)
    assert "second file for subband" in str(caught.value)


SURVEY_FILE = survey_module.survey_file


def crash_on_sb01(path: Path) -> FileSurvey:
    if path.name.endswith("sb01.hdf5"):
        os.kill(os.getpid(), signal.SIGKILL)
    return SURVEY_FILE(path)


def test_a_survey_process_that_dies_fails_the_conversion_with_a_message(files, monkeypatch):
    # The pool forks: its processes run the patched function.
    monkeypatch.setattr(survey_module, "survey_file", crash_on_sb01)
    with pytest.raises(ConversionError, match="died") as caught:
        survey_all(sorted(files), processes=2)
    assert not isinstance(caught.value, InputValidationError)


def test_no_survey_process_outlives_the_survey(files):
    survey_all(files)
    assert multiprocessing.active_children() == []


def test_read_steps_cover_each_block_once_in_block_order(files):
    surveyed = survey_all(files)
    inputs = check_group_inputs((s.header for s in surveyed), expected_subbands=16)
    readers = {s.header.subband: SubbandReader(s.header.path, s.layouts) for s in surveyed}
    try:
        # Small blocks, so that the dump has several.
        blocks = [
            (start, min(start + 128, inputs.reference.n_blts))
            for start in range(0, inputs.reference.n_blts, 128)
        ]
        assert len(blocks) > 2
        steps = read_steps(blocks, readers)
        assert len(steps) == len(blocks)
        read: dict[Path, list[tuple[int, int]]] = {}
        for (start, stop), step in zip(blocks, steps, strict=True):
            for where in step:
                read.setdefault(where.path, []).append((where.start, where.stop))
            for reader in readers.values():  # everything the block needs is read by now
                low, high = reader.byte_range(start, stop)
                assert any(a <= low for a, _ in read[reader.path])
                assert max(b for _, b in read[reader.path]) >= high
        for ranges in read.values():  # each byte once: ranges follow each other
            assert all(b == c for (_, b), (c, _) in itertools.pairwise(ranges))
        planned = plan_blocks(inputs, readers, tile_rows(inputs.reference.n_blts))
        assert planned[0][0] == 0 and planned[-1][1] == inputs.reference.n_blts
    finally:
        for reader in readers.values():
            reader.close()


def test_a_file_that_shrank_after_the_survey_is_refused(files, tmp_path):
    copy = tmp_path / files[0].name
    copy.write_bytes(files[0].read_bytes())
    layouts = read_layouts(copy)
    with copy.open("r+b") as handle:
        handle.truncate(copy.stat().st_size // 2)
    with pytest.raises(InputValidationError, match="truncated"):
        SubbandReader(copy, layouts)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (np.tile(np.arange(6, dtype=np.int64), 4), "tile"),  # baselines, every integration
        (np.repeat(np.linspace(2.46e6, 2.46e6 + 1e-3, 4), 6), "repeat"),  # times
        (np.arange(24, dtype=np.float64), "raw"),  # neither: sent whole
        (np.full(24, 12.884901888), "tile"),  # one integration time for all rows
    ],
)
def test_per_row_arrays_travel_packed_and_come_back_identical(values, kind):
    packed = survey_module._RowArray.pack(values, n_times=4)
    assert packed.kind == kind
    if kind != "raw":
        assert packed.values.size < values.size
    unpacked = packed.unpack()
    assert unpacked.dtype == values.dtype
    np.testing.assert_array_equal(unpacked, values)
