"""The ``convert``, ``groups`` and ``convert-dir`` commands, end to end."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import converter.cli
from converter.cli import EXIT_FAILED
from converter.isolated import IsolatedConverter
from dsa110_stream.cli import main
from simulator import SimulationConfig, SimulationResult, simulate
from tests.converter.conftest import N_ANTENNAS, dump_files
from tests.converter.helpers import coherence, read_column
from tests.converter.test_isolated import crash_once


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The commands point logging at the (captured) stderr; undo that after each test."""
    handlers = logging.getLogger().handlers[:]
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = handlers


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> SimulationResult:
    """Two dumps; the second lacks sb04; plus a file whose name is not a subband name."""
    base = tmp_path_factory.mktemp("archive")
    run = simulate(
        base / "incoming",
        SimulationConfig(n_antennas=N_ANTENNAS, n_dumps=2, missing=((1, 4),), seed=5),
        truth_path=base / "truth.json",
    )
    (base / "incoming" / "notes.hdf5").write_bytes(b"not a subband file")
    return run


def test_convert_writes_then_reuses(tmp_path, meridian_dump, capsys):
    output = tmp_path / "dump.ms"
    files = [str(f) for f in dump_files(meridian_dump)]
    assert main(["convert", "--output", str(output), *files]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {output}: 504 rows × 768 channels")
    assert main(["convert", "--output", str(output), "--json", *files]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["reused"] is True and record["n_channels"] == 768


def test_convert_with_angles_and_flux(tmp_path, offset_dump, capsys):
    source = offset_dump.sources[0]
    output = tmp_path / "offset.ms"
    status = main(
        [
            "convert",
            "--output",
            str(output),
            "--ra",
            f"{source.ra_deg / 15}h",
            "--dec",
            f"{source.dec_deg}deg",
            "--flux",
            "2.5",
            *[str(f) for f in dump_files(offset_dump)],
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert coherence(output).magnitude > 0.98
    assert read_column(output, "MODEL_DATA").shape == read_column(output, "DATA").shape


def test_convert_reports_bad_input_and_writes_nothing(tmp_path, meridian_dump, capsys):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = []
    for path in dump_files(meridian_dump):
        files.append(incoming / path.name)
        files[-1].write_bytes(path.read_bytes())
    files[5].write_bytes(files[5].read_bytes()[:5000])
    output = tmp_path / "dump.ms"
    assert main(["convert", "--output", str(output), *map(str, files)]) == 3
    error = capsys.readouterr().err
    assert "bad input" in error and files[5].name in error and "HDF5 structure" in error
    assert not output.exists()


def test_convert_reports_a_conversion_that_crashed(tmp_path, meridian_dump, capsys, monkeypatch):
    """A conversion killed by a signal (a real SIGBUS here, as from an input truncated
    while it is read) fails the command with a message instead of killing it."""
    marker = tmp_path / "crash-next-conversion"
    marker.touch()
    monkeypatch.setattr(
        converter.cli,
        "isolated_converter",
        lambda log_level, start_method: IsolatedConverter(crash_once, (str(marker),), start_method),
    )
    output = tmp_path / "dump.ms"
    files = [str(f) for f in dump_files(meridian_dump)]
    assert main(["convert", "--output", str(output), *files]) == EXIT_FAILED
    error = capsys.readouterr().err
    assert "conversion failed" in error and "SIGBUS" in error, error
    assert not marker.exists()  # the worker really crashed
    assert not output.exists()


def test_angles_need_units(tmp_path, meridian_dump, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["convert", "--output", str(tmp_path / "x.ms"), "--ra", "43.9", "--dec", "55deg",
              *map(str, dump_files(meridian_dump))])  # fmt: skip
    assert exited.value.code == 2
    assert "not an angle with a unit" in capsys.readouterr().err


def test_groups_lists_dumps_as_json(archive, capsys):
    assert main(["groups", str(archive.out_dir), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    groups = document["groups"]
    assert [g["subbands"] for g in groups] == [list(range(16)), [s for s in range(16) if s != 4]]
    assert groups[1]["missing"] == [4] and not groups[1]["complete"]
    assert [Path(r["path"]).name for r in document["rejected"]] == ["notes.hdf5"]
    assert main(["groups", str(archive.out_dir)]) == 0
    table = capsys.readouterr().out
    assert "missing sb04" in table and "2 groups (1 complete)" in table


def test_groups_time_range(archive, capsys):
    second = json.loads(
        (main(["groups", str(archive.out_dir), "--json"]), capsys.readouterr().out)[1]
    )["groups"][1]["group_id"]
    assert main(["groups", str(archive.out_dir), "--json", "--start", second]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert [g["group_id"] for g in groups] == [second]


def test_convert_dir_converts_reuses_and_skips(archive, tmp_path, capsys):
    out = tmp_path / "ms"
    assert main(["convert-dir", str(archive.out_dir), str(out), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "1 groups to convert, 1 skipped" in captured.out
    assert not out.exists()
    assert main(["convert-dir", str(archive.out_dir), str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "converted 1, reused 0, failed 0, skipped incomplete 1" in captured.out
    assert "use --min-subbands" in captured.err
    status = main(
        ["convert-dir", str(archive.out_dir), str(out), "--min-subbands", "15", "--no-progress"]
    )
    assert status == 0
    assert "converted 1, reused 1, failed 0, skipped incomplete 0" in capsys.readouterr().out
    written = sorted(p.name for p in out.glob("*.ms"))
    expected = sorted(f"{d.start_time:%Y-%m-%dT%H:%M:%S}" for d in archive.dumps)
    assert len(written) == 2
    # Group ids are the earliest file name of each dump, within its 0-10 s jitter.
    assert all(w[:16] == e[:16] for w, e in zip(written, expected, strict=True))
    flags = read_column(out / written[1], "FLAG")
    assert flags[:, (15 - 4) * 48 : (16 - 4) * 48].all()


def test_convert_dir_reports_failures(archive, tmp_path, capsys):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for path in archive.dumps[0].files.values():
        (incoming / path.name).write_bytes(path.read_bytes())
    broken = sorted(incoming.iterdir())[0]
    broken.write_bytes(b"garbage")
    status = main(["convert-dir", str(incoming), str(tmp_path / "ms"), "--no-progress"])
    assert status == 1
    captured = capsys.readouterr()
    assert "failed 1" in captured.out and "FAILED" in captured.err and broken.name in captured.err
