"""Atomic, idempotent output: the manifest, reuse, --force, and no half MS ever at the
final path (a failure mid-way, a kill -9 mid-way)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import Angle
from casacore import tables

import converter.blocks
import converter.ms_layout
import converter.ms_writer
from converter import ConversionError, ConversionOptions, convert_group
from converter.manifest import MANIFEST_NAME
from converter.ms_writer import MainTableWriter
from converter.prefetch import Prefetcher
from simulator import SimulationResult
from tests.converter.conftest import dump_files
from tests.converter.helpers import read_column


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 256 rows, so that the 504-row test dumps take two blocks."""
    monkeypatch.setattr(converter.ms_layout, "TILE_ROWS", 256)
    monkeypatch.setattr(converter.blocks, "TARGET_BLOCK_BYTES", 1)


def hidden_entries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".")]


def test_manifest_records_inputs_versions_timings_and_options(tmp_path, meridian_dump):
    files = dump_files(meridian_dump)
    output = tmp_path / "dump.ms"
    result = convert_group(files, output, ConversionOptions(flux_jy=3.0))
    manifest = json.loads((output / MANIFEST_NAME).read_text())
    inputs = manifest["reuse_key"]["inputs"]
    assert [i["path"] for i in inputs] == sorted(str(f.resolve()) for f in files)
    for record in inputs:
        info = Path(record["path"]).stat()
        assert (record["size_bytes"], record["mtime_ns"]) == (info.st_size, info.st_mtime_ns)
    assert manifest["reuse_key"]["options"]["flux_jy"] == 3.0
    for package in ("dsa110-stream", "numpy", "pyuvdata", "python-casacore", "astropy", "h5py"):
        assert manifest["software"][package] not in ("", "not installed")
    assert manifest["software"]["hdf5"]
    stages = manifest["stage_seconds"]
    for stage in ("validate", "geometry", "create", "read_rephase", "write", "flush"):
        assert stages[stage] > 0, stage
    assert manifest["result"]["n_rows"] == result.n_rows == 504
    assert result.stage_seconds["publish"] > 0
    assert not hidden_entries(tmp_path)  # the scratch directory is gone


def test_matching_manifest_is_reused_and_force_reconverts(tmp_path, meridian_dump):
    files = dump_files(meridian_dump)
    output = tmp_path / "dump.ms"
    first = convert_group(files, output)
    table_mtime = (output / "table.dat").stat().st_mtime_ns
    again = convert_group(files, output)
    assert again.reused and not first.reused
    assert (output / "table.dat").stat().st_mtime_ns == table_mtime
    assert again.n_rows == first.n_rows and again.group_id == first.group_id
    assert again.phase_center_ra_rad == first.phase_center_ra_rad
    assert "read_rephase" not in again.stage_seconds
    forced = convert_group(files, output, ConversionOptions(force=True))
    assert not forced.reused
    assert (output / "table.dat").stat().st_mtime_ns != table_mtime
    assert not hidden_entries(tmp_path)


def test_changed_input_or_options_are_not_reused(tmp_path, meridian_dump):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = [Path(shutil.copy2(f, incoming / f.name)) for f in dump_files(meridian_dump)]
    output = tmp_path / "dump.ms"
    convert_group(files, output)
    os.utime(files[3], ns=(time.time_ns(), time.time_ns()))
    assert not convert_group(files, output).reused
    options = ConversionOptions(ra=Angle(40, u.deg), dec=Angle(55, u.deg))
    assert not convert_group(files, output, options).reused
    assert convert_group(files, output, options).reused


def test_small_blocks_give_the_same_ms(tmp_path, noisy_dump, monkeypatch):
    """Block boundaries do not show in the result (two blocks here, one by default)."""
    files = dump_files(noisy_dump)
    convert_group(files, tmp_path / "whole.ms")
    monkeypatch.setattr(converter.ms_layout, "TILE_ROWS", 256)
    monkeypatch.setattr(converter.blocks, "TARGET_BLOCK_BYTES", 1)
    convert_group(files, tmp_path / "blocks.ms")
    for column in ("DATA", "FLAG", "WEIGHT", "SIGMA", "UVW", "FLAG_ROW"):
        np.testing.assert_array_equal(
            read_column(tmp_path / "blocks.ms", column), read_column(tmp_path / "whole.ms", column)
        )


@pytest.mark.parametrize("inputs_read", [True, False])
def test_blocks_are_made_durable_once_the_inputs_are_read(
    tmp_path, meridian_dump, small_blocks, monkeypatch, inputs_read
):
    """Once every input byte is read, each block's write-back waits for the disk
    (fdatasync of the bulk files); before, it only starts the write-back."""
    synced: list[str] = []
    monkeypatch.setattr(Prefetcher, "finished", lambda self: inputs_read)
    monkeypatch.setattr(
        converter.ms_writer.os,
        "fdatasync",
        lambda fd: synced.append(Path(f"/proc/self/fd/{fd}").readlink().name),
    )
    output = tmp_path / "dump.ms"
    convert_group(dump_files(meridian_dump), output)
    with tables.table(str(output), ack=False) as table:
        data_file = f"table.f{table.getdminfo('DATA')['SEQNR']}_TSM0"
    assert synced.count(data_file) == (2 if inputs_read else 0)  # two blocks


def test_failure_mid_way_leaves_no_ms_and_keeps_the_old_one(
    tmp_path, meridian_dump: SimulationResult, small_blocks, monkeypatch
):
    """The disk fills up while the second block is written."""
    files = dump_files(meridian_dump)
    output = tmp_path / "dump.ms"
    convert_group(files, output)
    old_manifest = (output / MANIFEST_NAME).read_text()
    original = MainTableWriter.write

    def disk_full_on_second_block(self, start, block):
        if start > 0:
            raise OSError(28, "No space left on device")
        return original(self, start, block)

    monkeypatch.setattr(MainTableWriter, "write", disk_full_on_second_block)
    with pytest.raises(OSError, match="No space left"):
        convert_group(files, output, ConversionOptions(force=True))
    assert (output / MANIFEST_NAME).read_text() == old_manifest  # the old MS is untouched
    assert not hidden_entries(tmp_path)
    fresh = tmp_path / "fresh.ms"
    with pytest.raises(OSError):
        convert_group(files, fresh)
    assert not fresh.exists()
    assert not hidden_entries(tmp_path)


KILLED_RUN = """
import sys, time
from pathlib import Path
import converter.blocks, converter.ms_layout
from converter import convert_group
from converter.ms_writer import MainTableWriter

converter.ms_layout.TILE_ROWS = 256
converter.blocks.TARGET_BLOCK_BYTES = 1
original = MainTableWriter.write

def slow(self, start, block):
    if start > 0:
        print("second block", flush=True)
        time.sleep(600)
    return original(self, start, block)

MainTableWriter.write = slow
convert_group([Path(p) for p in sys.argv[2:]], Path(sys.argv[1]))
"""


def test_kill_9_mid_way_leaves_no_ms_at_the_final_path(tmp_path, meridian_dump):
    files = [str(f) for f in dump_files(meridian_dump)]
    output = tmp_path / "dump.ms"
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_RUN), str(output), *files],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "second block"
        scratch = hidden_entries(tmp_path)
        assert len(scratch) == 1 and any(scratch[0].rglob("table.dat"))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert not output.exists()
    # The next conversion of that output clears scratch left by a dead run (once old).
    past = time.time() - 7 * 3600
    os.utime(scratch[0], (past, past))
    convert_group([Path(f) for f in files], output)
    assert output.exists() and not hidden_entries(tmp_path)


@pytest.mark.parametrize("existing", ["directory", "file", "foreign_ms"])
def test_refuses_to_replace_what_it_did_not_write(tmp_path, meridian_dump, existing):
    output = tmp_path / "target.ms"
    if existing == "file":
        output.write_text("precious")
    else:
        output.mkdir()
        (output / ("table.dat" if existing == "foreign_ms" else "other.ms")).write_text("x")
    before = sorted(p.name for p in output.rglob("*")) if output.is_dir() else None
    for force in (False, True):
        with pytest.raises(ConversionError, match="not a Measurement Set written by"):
            convert_group(dump_files(meridian_dump), output, ConversionOptions(force=force))
    if before is None:
        assert output.read_text() == "precious"
    else:
        assert sorted(p.name for p in output.rglob("*")) == before
    assert not hidden_entries(tmp_path)
