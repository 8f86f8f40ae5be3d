"""Atomic, idempotent output: build the MS in a scratch directory, fsync it, rename it
into place with a manifest, and recognise a finished MS that can be reused.

The manifest (``manifest.json`` inside the MS directory; casacore ignores files it does
not know) records the inputs with sizes and modification times, the options that shape
the MS, the software and library versions, the measured stage timings and the result.
It is written last, before the rename, so an MS directory at the final path always has
one: a directory there without a manifest is not ours to reuse.

A crash can leave a scratch directory behind (hidden, next to the output, named after
it); it is never at the final path, and the next conversion of the same output removes
scratch directories older than :data:`STALE_SCRATCH`.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import structlog

from converter.errors import ConversionError
from converter.options import InputFile

log = structlog.get_logger(__name__)

MANIFEST_NAME = "manifest.json"
#: Bump when the MS written for the same inputs and options changes meaningfully, so
#: that MSs of an older layout are not reused.
LAYOUT_VERSION = 1
#: A scratch directory this old belongs to a conversion that died.
STALE_SCRATCH = timedelta(hours=6)
_SCRATCH_PREFIX = "."
_SCRATCH_MARKER = ".converting-"
_PACKAGES = (
    "dsa110-stream",
    "numpy",
    "pyuvdata",
    "python-casacore",
    "astropy",
    "pyerfa",
    "h5py",
)


@functools.cache
def software_versions() -> dict[str, str]:
    """Versions of this package, Python and every library the conversion depends on.

    Looked up once per process (each lookup scans the installed packages' metadata:
    slow while the disk streams a conversion's inputs), which is also what a running
    process is: an upgrade installed under it takes effect when it restarts.
    """
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    import h5py

    versions["hdf5"] = h5py.version.hdf5_version
    return versions


def package_version() -> str:
    return software_versions()["dsa110-stream"]


def reuse_key(inputs: Sequence[InputFile], options: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for an existing MS to stand for a new conversion."""
    return {
        "layout_version": LAYOUT_VERSION,
        "inputs": sorted((f.record() for f in inputs), key=lambda r: r["path"]),
        "options": options,
    }


def read_manifest(ms_path: Path) -> dict[str, Any] | None:
    """The manifest of a finished MS, or None if there is no readable one."""
    try:
        document = json.loads((ms_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def reusable_manifest(ms_path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of ``ms_path`` if it is a finished MS made from exactly ``key``."""
    if not (ms_path / "table.dat").is_file():
        return None
    manifest = read_manifest(ms_path)
    if manifest is None or manifest.get("reuse_key") != key:
        return None
    return manifest


def check_replaceable(output: Path) -> None:
    """Refuse to overwrite anything at ``output`` but an MS this converter wrote.

    A mistyped ``--output`` (a directory of MSs, a prototype's MS, a file) must fail
    before any work, not be renamed away and deleted when the new MS is published.
    """
    if not (output.exists() or output.is_symlink()):
        return
    manifest = read_manifest(output) if output.is_dir() else None
    if manifest is None or "reuse_key" not in manifest:
        raise ConversionError(
            f"{output} exists and is not a Measurement Set written by this converter (no "
            f"{MANIFEST_NAME}); remove it or choose another output path"
        )


def manifest_document(
    key: dict[str, Any], result: dict[str, Any], stage_seconds: dict[str, float]
) -> dict[str, Any]:
    return {
        "format": 1,
        "reuse_key": key,
        "result": result,
        "stage_seconds": stage_seconds,
        "software": software_versions(),
        "host": socket.gethostname(),
        "command_line": sys.argv,
        "written_at": datetime.now(UTC).isoformat(),
    }


class StagingArea:
    """A scratch directory on the output's file system in which the MS is built.

    ``ms_path`` is where to build; :meth:`publish` moves it to ``output`` atomically;
    :meth:`discard` removes everything. Use as a context manager: leaving it without
    :meth:`publish` discards.
    """

    def __init__(self, output: Path, scratch_dir: Path | None = None) -> None:
        self.output = output
        parent = output.parent
        parent.mkdir(parents=True, exist_ok=True)
        base = scratch_dir if scratch_dir is not None else parent
        base.mkdir(parents=True, exist_ok=True)
        if base.stat().st_dev != parent.stat().st_dev:
            raise ConversionError(
                f"scratch directory {base} is not on the file system of {parent}: the MS "
                "could not be renamed into place atomically; choose one on the same disk"
            )
        remove_stale_scratch(base, output.name)
        self.root = base / f"{_SCRATCH_PREFIX}{output.name}{_SCRATCH_MARKER}{uuid.uuid4().hex[:12]}"
        self.root.mkdir()
        self.ms_path = self.root / output.name
        self._published = False

    def publish(self, manifest: dict[str, Any]) -> None:
        """Write the manifest, fsync the MS, rename it to the output (replacing any old one)."""
        (self.ms_path / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        fsync_tree(self.ms_path)
        previous = self.root / f"previous-{self.output.name}"
        replacing = self.output.exists() or self.output.is_symlink()
        if replacing:
            # Two renames: a reader sees the old MS, then no MS, then the new one;
            # never a mixture.
            self.output.rename(previous)
        try:
            self.ms_path.rename(self.output)
        except OSError:
            if replacing:
                previous.rename(self.output)
            raise
        fsync_directory(self.output.parent)
        self._published = True
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> StagingArea:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._published:
            self.discard()


def remove_stale_scratch(base: Path, output_name: str) -> None:
    """Remove scratch directories of ``output_name`` left by conversions that died."""
    horizon = time.time() - STALE_SCRATCH.total_seconds()
    for candidate in base.glob(f"{_SCRATCH_PREFIX}{output_name}{_SCRATCH_MARKER}*"):
        try:
            if candidate.is_dir() and candidate.stat().st_mtime < horizon:
                log.warning("removing stale scratch directory", path=str(candidate))
                shutil.rmtree(candidate, ignore_errors=True)
        except OSError:
            continue


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under ``root`` (directories after their entries)."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            fsync_file(Path(directory) / name)
        fsync_directory(Path(directory))


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
