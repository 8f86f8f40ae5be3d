"""Conversion workers build tables without casacore locks; nothing else changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import SimulationResult
from tests.converter.conftest import dump_files

# A fresh interpreter per case: casacore reads its resource files once per process.
SCRIPT = """
import json, sys
from pathlib import Path
from dsa110_stream.casa_env import build_tables_without_locks
if sys.argv[1] == "without-locks":
    build_tables_without_locks(Path(sys.argv[3]))
    build_tables_without_locks(Path(sys.argv[3]))  # idempotent
from casacore import measures, tables
path = Path(sys.argv[2])
description = tables.maketabdesc(tables.makescacoldesc("A", 0))
table = tables.table(str(path), description, nrow=3, ack=False)
table.putcol("A", [1, 2, 3])
table.close()
observatory = measures.measures().observatory("OVRO_MMA")  # the measures data still found
import os
print(json.dumps({
    "files": sorted(p.name for p in path.iterdir()),
    "longitude": observatory["m0"]["value"],
    "casarcfiles": os.environ.get("CASARCFILES", ""),
}))
"""


def _run(mode: str, tmp_path: Path, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(tmp_path / f"{mode}.tab"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_tables_are_built_without_lock_files_and_measures_still_work(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CASARCFILES"}
    locked = _run("default", tmp_path, env)
    unlocked = _run("without-locks", tmp_path, env)
    assert "table.lock" in locked["files"]
    assert "table.lock" not in unlocked["files"]
    assert unlocked["longitude"] == pytest.approx(locked["longitude"], abs=1e-9)
    listed = unlocked["casarcfiles"].split(":")
    assert listed[0] == str(tmp_path / "casacore" / "no-table-locks.rc")
    assert listed.count(listed[0]) == 1


def test_the_users_resource_files_stay_in_force(tmp_path):
    own = tmp_path / "user.rc"
    own.write_text("measures.directory: /nonexistent\n")
    env = {**os.environ, "CASARCFILES": str(own)}
    unlocked = subprocess.run(
        [sys.executable, "-c", SCRIPT, "without-locks", str(tmp_path / "t.tab"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    # The user's (broken) measures path is still the one casacore uses.
    assert unlocked.returncode != 0
    assert "nonexistent" in unlocked.stderr or "Observatories" in unlocked.stderr


def test_the_cli_worker_builds_its_ms_without_locks_and_casa_reads_it(
    tmp_path, meridian_dump: SimulationResult
):
    output = tmp_path / "out.ms"
    command = Path(sys.executable).with_name("dsa110-stream")
    result = subprocess.run(
        [str(command), "convert", "--output", str(output)]
        + [str(p) for p in dump_files(meridian_dump)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(output.rglob("table.lock"))
    rows = json.loads((output / "manifest.json").read_text())["result"]["n_rows"]
    from casacore import tables

    with tables.table(str(output), ack=False) as ms:
        assert ms.nrows() == rows > 0
        assert ms.getkeyword("DSA110_GROUP_ID")
