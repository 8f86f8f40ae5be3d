"""Live writing: files grow integration by integration, or appear whole by rename."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import SimulationConfig, write_live
from tests.simulator.pyuvdata_reader import read_uvdata

N_BLS = 6  # three antennas with autos

_PEEK = """
import json, sys, h5py
try:
    with h5py.File(sys.argv[1], "r", locking=sys.argv[2] == "lock") as f:
        h = f["Header"]
        print(json.dumps({"Ntimes": int(h["Ntimes"][()]), "Nblts": int(h["Nblts"][()]),
                          "rows": f["Data/visdata"].shape[0],
                          "times": h["time_array"].shape[0]}))
except OSError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def peek(path: Path, lock: bool) -> dict:
    """Read a header from another process, as a producer would (with or without locking)."""
    args = [sys.executable, "-c", _PEEK, str(path), "lock" if lock else "nolock"]
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120, env=env)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def live_config(station_table) -> SimulationConfig:
    return SimulationConfig(n_antennas=3, station_table=station_table, subbands=(0, 1, 2), seed=5)


def test_incremental_files_grow_one_integration_at_a_time(tmp_path, live_config):
    seen: dict[int, dict] = {}
    names_at_first: list[str] = []

    def inspect(slot: int, t: int) -> None:
        if t == 0:
            names_at_first.extend(sorted(p.name for p in tmp_path.glob("*.hdf5")))
        if t in (0, 5):
            target = next(tmp_path.glob("*_sb01.hdf5"))
            seen[t] = peek(target, lock=False)
            seen[-1 - t] = peek(target, lock=True)

    run = write_live(tmp_path, live_config, on_integration=inspect)
    # All files of the dump exist under their final names from the first integration on.
    assert names_at_first == sorted(p.name for p in run.files)
    # Half-written: header and datasets agree, and say how far the writer has got.
    assert seen[0] == {"Ntimes": 1, "Nblts": N_BLS, "rows": N_BLS, "times": N_BLS}
    assert seen[5] == {"Ntimes": 6, "Nblts": 6 * N_BLS, "rows": 6 * N_BLS, "times": 6 * N_BLS}
    # While the writer holds the file, a reader that uses HDF5 file locking cannot open it.
    assert "lock" in seen[-1]["error"]
    for path in run.files:
        assert read_uvdata(path).Ntimes == 24


def test_rename_mode_makes_each_file_appear_complete(tmp_path, live_config):
    config = dataclasses.replace(live_config, write_mode="rename", n_dumps=2, shuffle=True)
    visible: list[list[str]] = []
    completed: list[Path] = []

    def complete(entry) -> None:
        completed.append(entry.path)
        visible.append(sorted(p.name for p in tmp_path.glob("*.hdf5")))
        assert peek(entry.path, lock=True)["Ntimes"] == 24

    def never(slot: int, t: int) -> None:
        raise AssertionError("rename mode has no half-written files in place")

    run = write_live(tmp_path, config, on_file_complete=complete, on_integration=never)
    assert completed == run.files
    for i, names in enumerate(visible):
        assert names == sorted(p.name for p in run.files[: i + 1])
    assert not list(tmp_path.glob("*.tmp"))


def test_truth_is_written_before_the_first_file(tmp_path, live_config):
    truth = tmp_path.parent / f"{tmp_path.name}-truth.json"
    present = []
    write_live(
        tmp_path,
        live_config,
        truth_path=truth,
        on_integration=lambda slot, t: present.append(truth.exists()),
    )
    assert present and all(present)
    assert not (tmp_path / "truth.json").exists()
