"""The README's first command: the whole pipeline end to end, on the real components."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.casa, pytest.mark.slow]


def test_demo_converts_every_simulated_dump(tmp_path: Path, station_table: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "dsa110_stream.cli", "demo", "--workdir", str(workdir),
         "--dumps", "2", "--antennas", "4", "--stations", str(station_table)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    made = sorted((workdir / "ms").glob("*.ms"))
    assert len(made) == 2, result.stdout[-4000:]
    assert "2 Measurement Set(s)" in result.stdout
    assert "768 channels" in result.stdout
    # Every step printed the exact command an operator would type.
    for step in ("simulate", "topics create", "produce", "consume", "status"):
        assert f"dsa110_stream.cli {step}" in result.stdout
