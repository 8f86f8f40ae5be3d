"""The prefetcher brings its byte ranges into the page cache step by step and tells the
block loop when a step is there; it never blocks a conversion on a file it cannot read
or after stop()."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

import numpy as np
import pytest

from converter.prefetch import FileRange, Prefetcher

FILE_BYTES = 6 * 2**20


def resident_fraction(path: Path, start: int = 0, stop: int | None = None) -> float:
    """Fraction of the pages of ``path``'s bytes start..stop in the page cache (mincore
    on a private mapping)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with (
        path.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY) as mapping,
    ):
        pages = -(-len(mapping) // mmap.PAGESIZE)
        vector = (ctypes.c_ubyte * pages)()
        address = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
        if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(len(mapping)), vector):
            pytest.skip(f"mincore failed: errno {ctypes.get_errno()}")
        first = start // mmap.PAGESIZE
        last = -(-(len(mapping) if stop is None else stop) // mmap.PAGESIZE)
        return sum(byte & 1 for byte in vector[first:last]) / (last - first)


def evicted(path: Path) -> Path:
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return path


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(3)
    paths = []
    for n in range(3):
        path = tmp_path / f"f{n}.bin"
        path.write_bytes(rng.bytes(FILE_BYTES))
        paths.append(evicted(path))
    return paths


def halves(files: list[Path]) -> list[list[FileRange]]:
    """Two steps: the first half of every file, then the second halves."""
    half = FILE_BYTES // 2
    return [[FileRange(p, 0, half) for p in files], [FileRange(p, half, FILE_BYTES) for p in files]]


@pytest.fixture
def observable(files: list[Path]) -> list[Path]:
    if any(resident_fraction(p) > 0.5 for p in files):
        pytest.skip("this file system keeps evicted pages (cannot observe the prefetch)")
    return files


def test_a_waited_for_step_is_in_memory(observable):
    half = FILE_BYTES // 2
    with Prefetcher(halves(observable), threads=1) as prefetcher:
        prefetcher.wait_for(0)
        for path in observable:
            assert resident_fraction(path, 0, half) > 0.95, path
        prefetcher.wait_for(1)
        for path in observable:
            assert resident_fraction(path, half, FILE_BYTES) > 0.95, path
        prefetcher.join()


def test_whole_files_is_one_step_per_file(observable):
    with Prefetcher.whole_files(observable) as prefetcher:
        for n, path in enumerate(observable):
            prefetcher.wait_for(n)
            assert resident_fraction(path) > 0.95, path
        prefetcher.join()


def test_unreadable_files_and_short_files_do_not_block(files, tmp_path):
    missing = tmp_path / "gone.bin"
    steps = [
        [FileRange(missing, 0, 100)],
        [FileRange(files[0], 0, FILE_BYTES * 4)],  # the file is shorter than the range
        [],
    ]
    with Prefetcher(steps) as prefetcher:
        for n in range(len(steps)):
            prefetcher.wait_for(n)
        prefetcher.join()
    with Prefetcher.whole_files([missing, *files]) as prefetcher:
        prefetcher.wait_for(0)
        prefetcher.join()


def test_stop_releases_every_waiter(files):
    prefetcher = Prefetcher(halves(files))
    prefetcher.wait_for(1)  # not started: returns at once
    prefetcher.start()
    prefetcher.stop()
    prefetcher.wait_for(0)
    prefetcher.wait_for(1)
    prefetcher.join()


def test_finished_once_every_step_is_read_or_the_reading_stopped(files):
    prefetcher = Prefetcher(halves(files), threads=1)
    assert not prefetcher.finished()  # not started: nothing read yet
    with prefetcher:
        prefetcher.join()
        assert prefetcher.finished()
    stopped = Prefetcher(halves(files))
    stopped.stop()
    assert stopped.finished()
    assert Prefetcher([[], []]).finished()  # no bytes to read at all
