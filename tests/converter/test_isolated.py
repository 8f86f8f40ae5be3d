"""Conversions in a worker process: a crash fails its own group only, errors keep their
type and fields across the process boundary, and a batch run goes on."""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from converter import ConversionOptions, InputValidationError
from converter.batch import BatchPlan, run_batch
from converter.grouping import find_subband_groups
from converter.isolated import IsolatedConverter, WorkerDied
from simulator import SimulationResult
from tests.converter.conftest import dump_files


def crash_once(marker: str) -> None:
    """Worker initializer: the first conversion after ``marker`` appears, once its inputs
    are checked, ends the worker with a real SIGBUS (as a file truncated under its memory
    map would)."""
    import converter.convert as convert

    build = convert._build

    def crash_or_build(*args: Any, **kwargs: Any) -> Any:
        if Path(marker).exists():
            Path(marker).unlink()
            faulthandler.disable()  # a forked worker inherits pytest's: no dump in the log
            os.kill(os.getpid(), signal.SIGBUS)
        return build(*args, **kwargs)

    convert._build = crash_or_build


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "crash-next-conversion"


def test_a_crash_fails_that_conversion_only(tmp_path, meridian_dump: SimulationResult, marker):
    files = dump_files(meridian_dump)
    output = tmp_path / "out" / "dump.ms"
    marker.touch()
    with IsolatedConverter(crash_once, (str(marker),)) as worker:
        with pytest.raises(WorkerDied, match="SIGBUS"):
            worker.convert(files, output, ConversionOptions())
        assert not marker.exists()  # the crash really happened in the worker
        assert not output.exists()
        result = worker.convert(files, output, ConversionOptions())
    assert result.ms_path == output and (output / "table.dat").is_file()
    assert not result.reused and result.n_channels == 768


def test_a_worker_that_died_while_idle_is_replaced(tmp_path, meridian_dump: SimulationResult):
    files = dump_files(meridian_dump)
    with IsolatedConverter() as worker:
        worker.convert(files, tmp_path / "a.ms", ConversionOptions())
        (child,) = multiprocessing.active_children()
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
        time.sleep(0.5)  # let the pool notice
        result = worker.convert(files, tmp_path / "b.ms", ConversionOptions())
    assert (result.ms_path / "table.dat").is_file()


def test_bad_input_keeps_its_type_and_fields(tmp_path, meridian_dump: SimulationResult):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = [Path(shutil.copy2(p, incoming / p.name)) for p in dump_files(meridian_dump)]
    bad = files[5]
    with bad.open("r+b") as handle:
        handle.truncate(bad.stat().st_size // 2)
    with IsolatedConverter() as worker, pytest.raises(InputValidationError) as caught:
        worker.convert(files, tmp_path / "out.ms", ConversionOptions())
    assert caught.value.path == bad
    assert "HDF5 structure" in caught.value.field
    assert str(bad) in str(caught.value)


def test_a_batch_run_goes_on_after_a_crash(tmp_path, meridian_dump: SimulationResult, marker):
    (group,), _ = find_subband_groups(dump_files(meridian_dump))
    first, second = tmp_path / "ms" / "first.ms", tmp_path / "ms" / "second.ms"
    plan = BatchPlan(to_convert=((group, first), (group, second)), incomplete=(), rejected=())
    marker.touch()
    summary = run_batch(
        plan, ConversionOptions(), converter=IsolatedConverter(crash_once, (str(marker),))
    )
    assert [group_id for group_id, _ in summary.failed] == [group.group_id]
    assert "SIGBUS" in summary.failed[0][1]
    assert summary.converted == [group.group_id]
    assert not first.exists() and (second / "table.dat").is_file()
