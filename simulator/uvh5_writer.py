"""Write one subband file in the correlator's own UVH5 layout, integration by integration.

The layout copies the DSA-110 correlator's writer (dsa110-meridian-fs ``io.py``), not
pyuvdata's writer: old-style header (``phase_type`` "drift", no phase-centre catalog),
2-D ``freq_array`` (1, Nfreqs) descending with a positive scalar ``channel_width``,
per-blt ``integration_time``, ``spw_array`` [1], ``uvw_array`` float32, native complex64
``visdata``, no ``lst_array`` unless asked, and every per-blt dataset created empty and
resizable (h5py auto-chunked), grown as integrations arrive. After every append
``Ntimes`` and ``Nblts`` in the header match the datasets, so a half-written file looks
like a valid shorter file: only the close (or ``Ntimes`` reaching 24) says it is done.

pyuvdata 3.2 reads these files only with ``run_check=False`` (its check insists on a
float64 ``uvw_array``); cast ``uvw_array`` to float64 afterwards and ``check()`` passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np
import numpy.typing as npt

from simulator.telescope import (
    DISH_DIAMETER_M,
    N_ANTENNAS_TELESCOPE,
    POLARIZATIONS,
    SITE_ALT_M,
    SITE_LAT_RAD,
    SITE_LON_RAD,
    ArrayLayout,
)


@dataclass(frozen=True)
class FileHeader:
    """The parts of a subband file's header that do not grow with time."""

    layout: ArrayLayout
    freqs_hz: npt.NDArray  # (Nfreqs,) descending
    channel_width_hz: float
    pointing_dec_rad: float
    integration_time_s: float
    history: str
    fs_table: str = "/home/ubuntu/proj/dsa110-shell/dsa110-meridian-fs/dsamfs/data/fs_table.npz"
    applied_delays_ns: str = ""
    write_lst_array: bool = False


class CorrelatorFileWriter:
    """An open subband file being filled one or more integrations at a time.

    Use as a context manager, or call :meth:`close`. The file is created on
    construction with an empty, self-consistent header (``Ntimes`` 0).
    """

    def __init__(self, path: Path, header: FileHeader) -> None:
        self.path = Path(path)
        self._header = header
        self._file = h5py.File(self.path, "w")
        self._n_bls = header.layout.n_baselines
        self._datasets: dict[str, h5py.Dataset] = {}
        self._initialise()

    def append(
        self, times_jd: npt.NDArray, lst_rad: npt.NDArray, uvw_m: npt.NDArray, vis: npt.NDArray
    ) -> None:
        """Append integrations: times (nt,), LSTs (nt,), uvw (nt, Nbls, 3), vis (nt, Nbls, Nf).

        Both polarisations get the same (unpolarised) visibilities.
        """
        n_times = times_jd.size
        n_rows = n_times * self._n_bls
        old = self._datasets["time_array"].shape[0]
        new = old + n_rows
        layout = self._header.layout
        rows: dict[str, npt.NDArray] = {
            "time_array": np.repeat(times_jd, self._n_bls),
            "integration_time": np.full(n_rows, self._header.integration_time_s),
            "uvw_array": uvw_m.reshape(n_rows, 3).astype(np.float32),
            "ant_1_array": np.tile(layout.ant_1, n_times),
            "ant_2_array": np.tile(layout.ant_2, n_times),
        }
        if self._header.write_lst_array:
            rows["lst_array"] = np.repeat(lst_rad, self._n_bls)
        shape = (n_rows, 1, vis.shape[-1], len(POLARIZATIONS))
        # Whole arrays, never scalars: h5py broadcasts a scalar chunk by chunk in Python.
        rows |= {
            "visdata": np.broadcast_to(vis.reshape(n_rows, 1, -1, 1), shape),
            "flags": np.zeros(shape, dtype=np.bool_),
            "nsamples": np.ones(shape, dtype=np.float32),
        }
        for name, values in rows.items():
            dataset = self._datasets[name]
            dataset.resize(new, axis=0)
            dataset[old:new] = np.ascontiguousarray(values)
        self._datasets["Ntimes"][()] = new // self._n_bls
        self._datasets["Nblts"][()] = new

    def flush(self) -> None:
        """Push what has been appended so far to the operating system."""
        self._file.flush()

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def __enter__(self) -> CorrelatorFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _initialise(self) -> None:
        h = self._header
        layout = h.layout
        head = self._file.create_group("Header")
        data = self._file.create_group("Data")
        head["latitude"] = np.rad2deg(SITE_LAT_RAD)
        head["longitude"] = np.rad2deg(SITE_LON_RAD)
        head["altitude"] = SITE_ALT_M
        head["telescope_name"] = np.bytes_("OVRO_MMA")
        head["instrument"] = np.bytes_("DSA")
        head["object_name"] = np.bytes_("search")
        head["history"] = np.bytes_(h.history)
        head["phase_type"] = np.bytes_("drift")
        head["Nants_data"] = layout.data_antennas.size
        head["Nants_telescope"] = N_ANTENNAS_TELESCOPE
        head["antenna_diameters"] = np.full(N_ANTENNAS_TELESCOPE, DISH_DIAMETER_M)
        head["antenna_names"] = np.array(layout.antenna_names, dtype="S4")
        head["antenna_numbers"] = layout.antenna_numbers.astype(np.int64)
        head["antenna_positions"] = layout.positions_m
        head["Nbls"] = self._n_bls
        head["Nblts"] = 0
        head["Nfreqs"] = h.freqs_hz.size
        head["Npols"] = len(POLARIZATIONS)
        head["Ntimes"] = 0
        head["Nspws"] = 1
        head["freq_array"] = h.freqs_hz[np.newaxis, :]
        head["channel_width"] = h.channel_width_hz
        head["spw_array"] = np.array([1])
        head["polarization_array"] = np.array(POLARIZATIONS)
        for name, dtype in (
            ("time_array", np.float64),
            ("integration_time", np.float64),
            ("ant_1_array", np.int64),
            ("ant_2_array", np.int64),
        ):
            self._datasets[name] = head.create_dataset(
                name, (0,), maxshape=(None,), dtype=dtype, chunks=True
            )
        if h.write_lst_array:
            self._datasets["lst_array"] = head.create_dataset(
                "lst_array", (0,), maxshape=(None,), dtype=np.float64, chunks=True
            )
        self._datasets["uvw_array"] = head.create_dataset(
            "uvw_array", (0, 3), maxshape=(None, 3), dtype=np.float32, chunks=True
        )
        self._datasets["Ntimes"] = head["Ntimes"]
        self._datasets["Nblts"] = head["Nblts"]
        extra = head.create_group("extra_keywords")
        extra["phase_center_dec"] = h.pointing_dec_rad
        extra["ha_phase_center"] = 0.0
        extra["phase_center_epoch"] = "HADEC"
        extra["fs_table"] = np.bytes_(h.fs_table)
        extra["applied_delays_ns"] = np.bytes_(h.applied_delays_ns)
        shape = (0, 1, h.freqs_hz.size, len(POLARIZATIONS))
        maxshape = (None, *shape[1:])
        for name, data_type in (
            ("visdata", np.complex64),
            ("flags", np.bool_),
            ("nsamples", np.float32),
        ):
            self._datasets[name] = data.create_dataset(
                name, shape, maxshape=maxshape, dtype=data_type, chunks=True
            )
