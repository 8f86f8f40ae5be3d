"""The image installs this repository with ``pip install .`` (helm/Dockerfile): the wheel
must carry every module and data file the services read, build without setuptools
warning that parts of the tree would be left out, and state its licence."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "dsa110_stream",
    "producer",
    "consumer",
    "converter",
    "schemas",
    "simulator",
    "operations",
)
DATA = ("schemas/avro/", "schemas/fixtures/", "schemas/registry.json", "dsa110_stream/broker/")


def test_wheel_carries_every_module_and_data_file(tmp_path: Path) -> None:
    # Built from the files git tracks, as they are in the working copy (a clean clone's
    # tree, with the uncommitted edits), outside the working copy.
    source = tmp_path / "source"
    for path in _git_files():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, source / path)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    build = subprocess.run(
        [*command, "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    output = build.stdout + build.stderr
    assert "would be ignored" not in output, output

    (wheel,) = (tmp_path / "dist").glob("dsa110_stream-*.whl")
    archive = zipfile.ZipFile(wheel)
    shipped = set(archive.namelist())
    metadata = archive.read(next(n for n in shipped if n.endswith(".dist-info/METADATA")))
    assert b"\nLicense-Expression: BSD-3-Clause\n" in metadata
    needed = {
        path
        for path in _git_files(*PACKAGES)
        if path.endswith(".py") or (path.startswith(DATA) and not path.endswith(".md"))
    }
    assert any(path.endswith(".avsc") for path in needed)
    assert sorted(needed - shipped) == []


def _git_files(*under: str) -> list[str]:
    """The files git tracks (below ``under``), present in the working copy."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", *under], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    return [path for path in listed if path and (ROOT / path).is_file()]
