"""The prefetcher brings every input into the page cache and tells the parser when a
file is there; it never blocks a conversion on a file it cannot read or after stop()."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

import numpy as np
import pytest

from converter.prefetch import Prefetcher

FILE_BYTES = 6 * 2**20


def resident_fraction(path: Path) -> float:
    """Fraction of ``path``'s pages in the page cache (mincore on a private mapping)."""
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
        return sum(byte & 1 for byte in vector) / pages


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


def test_every_file_is_in_memory_once_waited_for(files):
    if any(resident_fraction(p) > 0.5 for p in files):
        pytest.skip("this file system keeps evicted pages (cannot observe the prefetch)")
    with Prefetcher(files) as prefetcher:
        for path in files:
            prefetcher.wait_for(path)
            assert resident_fraction(path) > 0.95, path
        prefetcher.join()


def test_unreadable_and_unknown_files_do_not_block(files, tmp_path):
    missing = tmp_path / "gone.bin"
    with Prefetcher([missing, *files]) as prefetcher:
        prefetcher.wait_for(missing)
        prefetcher.wait_for(tmp_path / "never-announced.bin")
        prefetcher.wait_for(files[-1])
        prefetcher.join()


def test_stop_releases_every_waiter(files):
    prefetcher = Prefetcher(files)
    prefetcher.wait_for(files[0])  # not started: returns at once
    prefetcher.start()
    prefetcher.stop()
    for path in files:
        prefetcher.wait_for(path)
    prefetcher.join()
