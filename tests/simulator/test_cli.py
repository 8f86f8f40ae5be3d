"""``dsa110-stream simulate`` builds the configuration it is asked for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from converter.grouping import InvalidSubbandName, parse_subband_filename
from dsa110_stream.cli import main
from simulator import load_truth


def test_simulate_writes_what_the_flags_say(tmp_path, station_table, capsys):
    out = tmp_path / "incoming"
    status = main(
        [
            "simulate",
            str(out),
            "--stations",
            str(station_table),
            "--antennas",
            "3",
            "--dumps",
            "2",
            "--subbands",
            "0-2,5",
            "--start",
            "2025-03-04T05:06:07",
            "--dec",
            "40",
            "--source",
            "10.5,41,2.5",
            "--source",
            "11,40,1",
            "--jitter",
            "2,4",
            "--seed",
            "9",
            "--missing",
            "1:2",
            "--misnamed",
            "0:5",
            "--duplicate",
            "1:0",
            "--shuffle",
            "--mode",
            "rename",
        ]
    )
    assert status == 0
    assert "wrote 8 files" in capsys.readouterr().out
    truth = load_truth(out / "truth.json")
    assert [(s.ra_deg, s.dec_deg, s.flux_jy) for s in truth.sources] == [
        (10.5, 41.0, 2.5),
        (11.0, 40.0, 1.0),
    ]
    assert truth.pointing_dec_deg == 40.0
    assert len(truth.station_numbers) == 3
    assert truth.dumps[0].start_time == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert sorted(truth.dumps[0].files) == [0, 1, 2]
    assert sorted(truth.dumps[1].files) == [0, 1, 5]
    assert truth.config["shuffle"] is True and truth.config["write_mode"] == "rename"
    misnamed = [e.path for e in truth.dumps[0].entries if "misnamed" in e.cases]
    with pytest.raises(InvalidSubbandName):
        parse_subband_filename(misnamed[0])
    for dump in truth.dumps:
        for entry in dump.entries:
            offset = (entry.filename_timestamp - dump.start_time).total_seconds()
            assert 1 <= offset <= 4
    assert not list(out.glob("*.tmp"))


def test_live_writing_with_a_short_integration_delay(tmp_path, station_table):
    status = main(
        [
            "simulate",
            str(tmp_path),
            "--stations",
            str(station_table),
            "--antennas",
            "2",
            "--subbands",
            "0,1",
            "--live",
            "--integration-delay",
            "0.001",
            "--file-delay",
            "0.001",
        ]
    )
    assert status == 0
    assert len(load_truth(tmp_path / "truth.json").files) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--missing", "3:1"], "missing: (3, 1) is not a simulated file"),
        (["--file-delay", "1"], "need --live"),
        (["--antennas", "0"], "n_antennas must be 1..117"),
    ],
)
def test_bad_requests_fail_with_a_message(tmp_path, station_table, capsys, extra, message):
    args = ["simulate", str(tmp_path), "--stations", str(station_table), *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_missing_station_table_says_what_to_pass(tmp_path, capsys):
    args = ["simulate", str(tmp_path), "--stations", str(tmp_path / "none.csv")]
    assert main(args) == 2
    assert "cannot read station table" in capsys.readouterr().err


def test_malformed_values_are_rejected_by_the_parser(tmp_path):
    with pytest.raises(SystemExit):
        main(["simulate", str(tmp_path), "--source", "10,20"])
    with pytest.raises(SystemExit):
        main(["simulate", str(tmp_path), "--missing", "one:two"])
