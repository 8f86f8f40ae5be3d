"""Read a subband file's UVH5 header, check that it is self-consistent, and summarise it.

One HDF5 open per file serves both the completeness check and the event's header
summary. Only metadata and a handful of values are read (dataset shapes, the 48
frequencies, the first and last time), never the visibilities, so a 200 MB file costs
about as much as a tiny one.

A file is self-consistent when ``Nblts = Nbls · Ntimes``, every per-baseline-time array
has ``Nblts`` rows, the frequency axis has ``Nfreqs`` channels, and the ``Data`` datasets
(visdata, flags, nsamples) have the shape the header announces. Both the correlator's
layout (``(Nblts, 1, Nfreqs, Npols)``, ``freq_array`` ``(1, Nfreqs)``) and pyuvdata 3's
(``(Nblts, Nfreqs, Npols)``, ``freq_array`` ``(Nfreqs,)``) are accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

_DATA_DATASETS = ("visdata", "flags", "nsamples")


class HeaderProblem(ValueError):
    """The file is not (yet) a readable, self-consistent UVH5 file; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HeaderSummary:
    """What the SubbandFile event says about a file's contents (schema SubbandHeader)."""

    n_times: int
    n_baselines: int
    n_freqs: int
    n_pols: int
    n_antennas_data: int
    freq_min_hz: float
    freq_max_hz: float
    time_start_jd: float
    time_end_jd: float
    pointing_dec_rad: float | None

    def as_record(self) -> dict[str, Any]:
        """The ``header`` field of a SubbandFile record."""
        return {
            "n_times": self.n_times,
            "n_baselines": self.n_baselines,
            "n_freqs": self.n_freqs,
            "n_pols": self.n_pols,
            "n_antennas_data": self.n_antennas_data,
            "freq_min_hz": self.freq_min_hz,
            "freq_max_hz": self.freq_max_hz,
            "time_start_jd": self.time_start_jd,
            "time_end_jd": self.time_end_jd,
            "pointing_dec_rad": self.pointing_dec_rad,
        }


def read_header_summary(path: Path) -> HeaderSummary:
    """Check ``path``'s UVH5 header for self-consistency and summarise it.

    Raises :class:`HeaderProblem` when the file cannot be opened as HDF5, lacks a header
    field, or its header and dataset shapes disagree (typical of a file still being written,
    or of a truncated one).
    """
    # h5py's low-level API: the high-level File/Group/Dataset objects cost ~0.1-0.3 ms per
    # access, which made the header check, not Kafka, the bottleneck of a 57,600-file
    # bootstrap (see docs/producer.md).
    access = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    # Never take an HDF5 file lock that could block the correlator's writer.
    access.set_file_locking(False, True)
    try:
        file_id = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY, fapl=access)
    except OSError as exc:
        raise HeaderProblem(f"cannot open as HDF5: {exc}") from exc
    try:
        return _summarise(file_id)
    except HeaderProblem:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
        # h5py reports damaged or half-written structures with these builtins.
        raise HeaderProblem(f"unreadable UVH5 structure: {type(exc).__name__}: {exc}") from exc
    finally:
        file_id.close()


def _summarise(file_id: h5py.h5f.FileID) -> HeaderSummary:
    header = _group(file_id, "Header")
    data = _group(file_id, "Data")
    n_blts = _count(header, "Nblts")
    n_bls = _count(header, "Nbls")
    n_times = _count(header, "Ntimes")
    n_freqs = _count(header, "Nfreqs")
    n_pols = _count(header, "Npols")
    n_ants = _count(header, "Nants_data")
    if n_times < 1 or n_bls < 1 or n_freqs < 1 or n_pols < 1:
        raise HeaderProblem(
            f"empty file: Ntimes={n_times}, Nbls={n_bls}, Nfreqs={n_freqs}, Npols={n_pols}"
        )
    if n_blts != n_bls * n_times:
        raise HeaderProblem(
            f"Nblts={n_blts} but Nbls·Ntimes = {n_bls}·{n_times} = {n_bls * n_times}"
        )
    for name, trailing in (("time_array", ()), ("ant_1_array", ()), ("ant_2_array", ()),
                           ("uvw_array", (3,))):
        _expect_shape(header, "Header", name, [(n_blts, *trailing)])
    freqs = _dataset(header, "Header", "freq_array")
    if freqs.shape not in ((n_freqs,), (1, n_freqs)):
        raise HeaderProblem(f"Header/freq_array has shape {freqs.shape}, expected ({n_freqs},)")
    for name in _DATA_DATASETS:
        _expect_shape(data, "Data", name, [(n_blts, 1, n_freqs, n_pols), (n_blts, n_freqs, n_pols)])

    freq_values = np.empty(freqs.shape, dtype=np.float64)
    freqs.read(h5py.h5s.ALL, h5py.h5s.ALL, freq_values)
    times = _dataset(header, "Header", "time_array")
    time_start = _element(times, 0)
    time_end = _element(times, n_blts - 1)
    if not (np.all(np.isfinite(freq_values)) and np.isfinite(time_start) and np.isfinite(time_end)):
        raise HeaderProblem("non-finite values in Header/freq_array or Header/time_array")
    return HeaderSummary(
        n_times=n_times,
        n_baselines=n_bls,
        n_freqs=n_freqs,
        n_pols=n_pols,
        n_antennas_data=n_ants,
        freq_min_hz=float(freq_values.min()),
        freq_max_hz=float(freq_values.max()),
        time_start_jd=min(time_start, time_end),
        time_end_jd=max(time_start, time_end),
        pointing_dec_rad=_pointing_dec(header),
    )


def _group(parent: h5py.h5g.GroupID | h5py.h5f.FileID, name: str) -> h5py.h5g.GroupID:
    try:
        return h5py.h5g.open(parent, name.encode())
    except (KeyError, ValueError) as exc:  # h5py raises either, depending on the cause
        raise HeaderProblem(f"no HDF5 group {name!r}") from exc


def _dataset(group: h5py.h5g.GroupID, where: str, name: str) -> h5py.h5d.DatasetID:
    try:
        return h5py.h5d.open(group, name.encode())
    except (KeyError, ValueError) as exc:
        raise HeaderProblem(f"missing {where}/{name}") from exc


def _count(header: h5py.h5g.GroupID, name: str) -> int:
    dataset = _dataset(header, "Header", name)
    if dataset.shape != () or dataset.dtype.kind not in "iu":
        raise HeaderProblem(
            f"Header/{name} is not an integer scalar (shape {dataset.shape}, {dataset.dtype})"
        )
    value = np.empty((), dtype=np.int64)
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, value)
    return int(value)


def _element(dataset: h5py.h5d.DatasetID, index: int) -> float:
    """One value of a 1-D dataset, as float64, reading nothing else."""
    selection = dataset.get_space()
    selection.select_hyperslab((index,), (1,))
    value = np.empty((1,), dtype=np.float64)
    dataset.read(h5py.h5s.create_simple((1,)), selection, value)
    return float(value[0])


def _expect_shape(
    group: h5py.h5g.GroupID, where: str, name: str, allowed: list[tuple[int, ...]]
) -> None:
    shape = _dataset(group, where, name).shape
    if shape not in allowed:
        expected = " or ".join(str(a) for a in allowed)
        raise HeaderProblem(f"{where}/{name} has shape {shape}, expected {expected}")


def _pointing_dec(header: h5py.h5g.GroupID) -> float | None:
    if b"extra_keywords" not in header:
        return None
    try:
        extra = h5py.h5g.open(header, b"extra_keywords")
        dataset = h5py.h5d.open(extra, b"phase_center_dec")
    except (KeyError, ValueError):
        return None
    if dataset.shape != () or dataset.dtype.kind not in "fiu":
        return None
    value = np.empty((), dtype=np.float64)
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, value)
    return float(value) if np.isfinite(value) else None
