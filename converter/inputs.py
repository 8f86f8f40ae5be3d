"""Read the headers of one group's subband files and prove they fit together.

Everything here runs before any visibility is read, so that a bad group fails in well
under a second with an error that names the file and the field. The result,
:class:`GroupInputs`, is the single description of the group that the later stages use:
the baseline-time rows (identical in every file), the antennas, the polarisations and
the band plan that places each subband's channels in the one ascending spectral window.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
from astropy.time import Time

from converter.errors import InputValidationError
from converter.grouping import (
    DEFAULT_TOLERANCE,
    InvalidSubbandName,
    format_group_id,
    parse_subband_filename,
)

_SECONDS_PER_DAY = 86400.0
#: Rows of two files describe the same integration if their times agree this well.
_TIME_TOLERANCE_S = 1e-3
#: Antenna positions of two files agree if within this distance (m).
_POSITION_TOLERANCE_M = 1e-3
_DATASETS = ("visdata", "flags", "nsamples")


@dataclass(frozen=True)
class SubbandHeader:
    """What one subband file declares about itself (checked for internal consistency)."""

    path: Path
    subband: int
    name_time: datetime
    freqs_hz: npt.NDArray[np.float64]  # as stored (descending for DSA-110)
    channel_width_hz: float  # positive
    polarizations: tuple[int, ...]
    n_times: int
    n_baselines: int
    time_jd: npt.NDArray[np.float64]  # (Nblts,) integration centres
    integration_s: npt.NDArray[np.float64]  # (Nblts,)
    ant_1: npt.NDArray[np.int64]
    ant_2: npt.NDArray[np.int64]
    antenna_numbers: npt.NDArray[np.int64]
    antenna_names: tuple[str, ...]
    antenna_positions_m: npt.NDArray[np.float64]  # relative ECEF, (Nants_telescope, 3)
    antenna_diameters_m: npt.NDArray[np.float64] | None
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    telescope_name: str
    pointing_dec_rad: float
    data_shape: tuple[int, ...]

    @property
    def n_blts(self) -> int:
        return int(self.time_jd.size)

    @property
    def n_freqs(self) -> int:
        return int(self.freqs_hz.size)

    @property
    def top_frequency_hz(self) -> float:
        return float(self.freqs_hz.max())


@dataclass(frozen=True)
class BandPlan:
    """Where each subband's channels go in the single ascending spectral window.

    Subband ``s`` (sb00 highest, DOMAIN.md §2) fills channels
    ``first_channel(s) .. first_channel(s) + channels_per_subband - 1`` in ascending
    frequency; ``freqs_hz`` holds every channel, a missing subband's extrapolated from
    the layout of the present ones.
    """

    n_subbands: int
    channels_per_subband: int
    channel_width_hz: float
    freqs_hz: npt.NDArray[np.float64]  # (n_subbands * channels_per_subband,) ascending

    @property
    def n_channels(self) -> int:
        return int(self.freqs_hz.size)

    def first_channel(self, subband: int) -> int:
        return (self.n_subbands - 1 - subband) * self.channels_per_subband

    def channel_slice(self, subband: int) -> slice:
        start = self.first_channel(subband)
        return slice(start, start + self.channels_per_subband)


@dataclass(frozen=True)
class GroupInputs:
    """A validated group: the shared row layout, per-subband files and the band plan."""

    headers: dict[int, SubbandHeader]  # by subband index
    band: BandPlan
    missing: tuple[int, ...]

    @property
    def reference(self) -> SubbandHeader:
        """The header whose shared metadata (rows, antennas, site) stand for all files."""
        return self.headers[min(self.headers)]

    @property
    def present(self) -> tuple[int, ...]:
        return tuple(sorted(self.headers))

    @property
    def group_id(self) -> str:
        """Group id of these files: the earliest file-name timestamp (the anchor)."""
        return format_group_id(min(h.name_time for h in self.headers.values()))

    @property
    def unique_times_jd(self) -> npt.NDArray[np.float64]:
        return np.unique(self.reference.time_jd)

    @property
    def mid_time_jd(self) -> float:
        """Midpoint between the first and last integration centres."""
        times = self.unique_times_jd
        return float(0.5 * (times[0] + times[-1]))

    def time_bounds(self) -> tuple[datetime, datetime]:
        """Centres of the first and last integrations, aware UTC."""
        times = self.unique_times_jd
        first, last = Time([times[0], times[-1]], format="jd", scale="utc").to_datetime()
        return first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)


def check_group_inputs(
    headers: Iterable[SubbandHeader],
    *,
    expected_subbands: int,
    channels_per_subband: int | None = None,
) -> GroupInputs:
    """Cross-check the headers of one group's files (in the order the files were given).

    Each header is checked against the ones before it as it arrives, so an iterator
    that raises a file's own error at that file's turn reports the same first error as
    reading the files one by one.
    """
    by_subband: dict[int, SubbandHeader] = {}
    for header in headers:
        if header.subband >= expected_subbands:
            raise InputValidationError(
                header.path,
                "file name",
                f"subband {header.subband:02d} is outside the expected "
                f"sb00..sb{expected_subbands - 1:02d}",
            )
        if header.subband in by_subband:
            other = by_subband[header.subband].path
            raise InputValidationError(
                header.path,
                "file name",
                f"a second file for subband {header.subband:02d} (the first is {other}); "
                "give one file per subband",
            )
        by_subband[header.subband] = header
    if not by_subband:
        raise InputValidationError(None, "files", "no input files were given")
    _check_consistent(list(by_subband.values()), channels_per_subband)
    band = _band_plan(by_subband, expected_subbands)
    missing = tuple(sb for sb in range(expected_subbands) if sb not in by_subband)
    return GroupInputs(headers=by_subband, band=band, missing=missing)


def read_subband_header(path: Path) -> SubbandHeader:
    """Read one file's header and check it against its own datasets and its name."""
    try:
        name = parse_subband_filename(path)
    except InvalidSubbandName as exc:
        raise InputValidationError(path, "file name", str(exc)) from exc
    if not path.is_file():
        raise InputValidationError(path, "file", "does not exist or is not a regular file")
    try:
        with h5py.File(path, "r") as handle:
            header = _parse_header(path, name.subband, name.timestamp, handle)
    except InputValidationError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputValidationError(
            path, "HDF5 structure", f"unreadable (truncated or corrupt file?): {exc}"
        ) from exc
    _check_name_matches_data(header)
    return header


def _parse_header(
    path: Path, subband: int, name_time: datetime, handle: h5py.File
) -> SubbandHeader:
    if "Header" not in handle or "Data" not in handle:
        raise InputValidationError(path, "HDF5 structure", "no Header and Data groups: not UVH5")
    head = handle["Header"]
    data = handle["Data"]
    for dataset in _DATASETS:
        if dataset not in data:
            raise InputValidationError(path, f"Data/{dataset}", "dataset is missing")

    def scalar(name: str) -> Any:
        if name not in head:
            raise InputValidationError(path, f"Header/{name}", "field is missing")
        return head[name][()]

    def array(name: str, dtype: type) -> npt.NDArray[Any]:
        if name not in head:
            raise InputValidationError(path, f"Header/{name}", "field is missing")
        return np.asarray(head[name][()], dtype=dtype)

    phase_type = _text(scalar("phase_type"))
    if phase_type != "drift":
        raise InputValidationError(
            path,
            "Header/phase_type",
            f"is {phase_type!r}; only the correlator's meridian drift scans ('drift') "
            "can be re-phased",
        )
    extra = head.get("extra_keywords")
    if extra is None or "phase_center_dec" not in extra:
        raise InputValidationError(
            path, "Header/extra_keywords/phase_center_dec", "missing: the pointing is unknown"
        )
    epoch = _text(extra["phase_center_epoch"][()]) if "phase_center_epoch" in extra else "HADEC"
    ha = float(extra["ha_phase_center"][()]) if "ha_phase_center" in extra else 0.0
    if epoch.upper() != "HADEC" or ha != 0.0:
        raise InputValidationError(
            path,
            "Header/extra_keywords",
            f"phase centre is (HA={ha}, epoch {epoch!r}); expected the meridian (HA=0, HADEC)",
        )
    pointing_dec = float(extra["phase_center_dec"][()])
    if not np.isfinite(pointing_dec) or abs(pointing_dec) > np.pi / 2:
        raise InputValidationError(
            path, "Header/extra_keywords/phase_center_dec", f"{pointing_dec} rad is not a dec"
        )

    n_blts, n_times, n_bls = int(scalar("Nblts")), int(scalar("Ntimes")), int(scalar("Nbls"))
    n_freqs, n_pols = int(scalar("Nfreqs")), int(scalar("Npols"))
    if int(scalar("Nspws")) != 1:
        raise InputValidationError(path, "Header/Nspws", "expected one spectral window")
    if n_blts != n_bls * n_times or n_blts == 0:
        raise InputValidationError(
            path,
            "Header/Nblts",
            f"Nblts={n_blts} but Nbls × Ntimes = {n_bls} × {n_times}: the file is "
            "incomplete or inconsistent",
        )
    time_jd = array("time_array", np.float64)
    integration = array("integration_time", np.float64)
    ant_1 = array("ant_1_array", np.int64)
    ant_2 = array("ant_2_array", np.int64)
    for field_name, values in (
        ("time_array", time_jd),
        ("integration_time", integration),
        ("ant_1_array", ant_1),
        ("ant_2_array", ant_2),
    ):
        if values.shape != (n_blts,):
            raise InputValidationError(
                path, f"Header/{field_name}", f"shape {values.shape}, expected ({n_blts},)"
            )
    distinct_times = _count_distinct_times(time_jd, n_times)
    if distinct_times != n_times:
        raise InputValidationError(
            path,
            "Header/time_array",
            f"{distinct_times} distinct times but Ntimes={n_times}",
        )
    if not np.all(integration > 0):
        raise InputValidationError(path, "Header/integration_time", "not all positive")

    freqs = array("freq_array", np.float64).reshape(-1)
    if freqs.size != n_freqs:
        raise InputValidationError(
            path, "Header/freq_array", f"{freqs.size} channels but Nfreqs={n_freqs}"
        )
    channel_width = float(np.abs(array("channel_width", np.float64).reshape(-1)).max())
    steps = np.abs(np.diff(freqs))
    if n_freqs > 1 and not np.allclose(steps, channel_width, rtol=1e-6, atol=0):
        raise InputValidationError(
            path,
            "Header/freq_array",
            f"channels are not evenly spaced by the channel width {channel_width} Hz",
        )
    if n_freqs > 1 and not (np.all(np.diff(freqs) < 0) or np.all(np.diff(freqs) > 0)):
        raise InputValidationError(path, "Header/freq_array", "frequencies are not monotonic")

    pols = tuple(int(p) for p in array("polarization_array", np.int64).reshape(-1))
    if len(pols) != n_pols or len(set(pols)) != n_pols:
        raise InputValidationError(
            path, "Header/polarization_array", f"{pols} does not hold Npols={n_pols} distinct"
        )

    antenna_numbers = array("antenna_numbers", np.int64).reshape(-1)
    names = tuple(_text(n) for n in np.asarray(scalar("antenna_names")).reshape(-1))
    positions = array("antenna_positions", np.float64)
    if positions.shape != (antenna_numbers.size, 3) or len(names) != antenna_numbers.size:
        raise InputValidationError(
            path,
            "Header/antenna_positions",
            f"shape {positions.shape} and {len(names)} names for "
            f"{antenna_numbers.size} antenna numbers",
        )
    # unique_values hashes integers; union1d alone would sort all 2 × Nblts of them.
    unknown = np.setdiff1d(
        np.union1d(np.unique_values(ant_1), np.unique_values(ant_2)), antenna_numbers
    )
    if unknown.size:
        raise InputValidationError(
            path, "Header/ant_1_array", f"antennas {unknown.tolist()} are not in antenna_numbers"
        )
    diameters = (
        np.asarray(head["antenna_diameters"][()], dtype=np.float64).reshape(-1)
        if "antenna_diameters" in head
        else None
    )

    expected_shapes = ((n_blts, 1, n_freqs, n_pols), (n_blts, n_freqs, n_pols))
    shape = tuple(data["visdata"].shape)
    for dataset in _DATASETS:
        if tuple(data[dataset].shape) not in expected_shapes:
            raise InputValidationError(
                path,
                f"Data/{dataset}",
                f"shape {data[dataset].shape} does not match the header "
                f"(Nblts={n_blts}, Nfreqs={n_freqs}, Npols={n_pols}): incomplete file?",
            )
        if tuple(data[dataset].shape) != shape:
            raise InputValidationError(path, f"Data/{dataset}", "shape differs from visdata")
    if data["visdata"].dtype != np.complex64:
        raise InputValidationError(
            path, "Data/visdata", f"dtype {data['visdata'].dtype}, expected complex64"
        )

    return SubbandHeader(
        path=path,
        subband=subband,
        name_time=name_time,
        freqs_hz=freqs,
        channel_width_hz=channel_width,
        polarizations=pols,
        n_times=n_times,
        n_baselines=n_bls,
        time_jd=time_jd,
        integration_s=integration,
        ant_1=ant_1,
        ant_2=ant_2,
        antenna_numbers=antenna_numbers,
        antenna_names=names,
        antenna_positions_m=positions,
        antenna_diameters_m=diameters,
        latitude_deg=float(scalar("latitude")),
        longitude_deg=float(scalar("longitude")),
        altitude_m=float(scalar("altitude")),
        telescope_name=_text(scalar("telescope_name")) if "telescope_name" in head else "",
        pointing_dec_rad=pointing_dec,
        data_shape=shape,
    )


def _count_distinct_times(time_jd: npt.NDArray[np.float64], n_times: int) -> int:
    """How many distinct times; without a sort when the rows come integration by
    integration, as the correlator writes them (Nblts = Ntimes × Nbls, checked before)."""
    by_integration = time_jd.reshape(n_times, -1)
    firsts = by_integration[:, 0]
    if np.all(by_integration == firsts[:, np.newaxis]) and np.all(np.diff(firsts) > 0):
        return n_times
    return int(np.unique(time_jd).size)


def _check_name_matches_data(header: SubbandHeader) -> None:
    """The name's timestamp must be the dump's start, within the grouping tolerance."""
    first_start_jd = float(np.min(header.time_jd - header.integration_s / 2 / _SECONDS_PER_DAY))
    first_start = Time(first_start_jd, format="jd", scale="utc").to_datetime().replace(tzinfo=UTC)
    offset = abs((header.name_time - first_start).total_seconds())
    if offset > DEFAULT_TOLERANCE.total_seconds():
        raise InputValidationError(
            header.path,
            "file name",
            f"timestamp {header.name_time.isoformat()} is {offset:.0f} s from the file's "
            f"first integration ({first_start.isoformat(timespec='seconds')}): "
            "misnamed file or one from another dump",
        )


def _check_consistent(headers: list[SubbandHeader], channels_per_subband: int | None) -> None:
    """Every file must describe the same rows, antennas, pols, site and pointing."""
    first = headers[0]
    expected_channels = channels_per_subband or _majority([h.n_freqs for h in headers])
    for h in headers:
        if h.n_freqs != expected_channels:
            raise InputValidationError(
                h.path,
                "Header/Nfreqs",
                f"{h.n_freqs} channels, expected {expected_channels} per subband",
            )
    for h in headers[1:]:

        def mismatch(field_name: str, detail: str, h: SubbandHeader = h) -> InputValidationError:
            return InputValidationError(
                h.path, field_name, f"{detail} (differs from {first.path.name})"
            )

        if h.n_times != first.n_times:
            raise mismatch("Header/Ntimes", f"{h.n_times} integrations, not {first.n_times}")
        if h.n_baselines != first.n_baselines:
            raise mismatch(
                "Header/Nbls", f"{h.n_baselines} baselines, not {first.n_baselines}: other antennas"
            )
        if not (np.array_equal(h.ant_1, first.ant_1) and np.array_equal(h.ant_2, first.ant_2)):
            raise mismatch("Header/ant_1_array, ant_2_array", "different baselines or row order")
        time_offset_s = float(np.max(np.abs(h.time_jd - first.time_jd))) * _SECONDS_PER_DAY
        if time_offset_s > _TIME_TOLERANCE_S:
            raise mismatch("Header/time_array", f"times differ by up to {time_offset_s:.3g} s")
        if not np.allclose(h.integration_s, first.integration_s, rtol=0, atol=1e-6):
            raise mismatch("Header/integration_time", "different integration times")
        if h.polarizations != first.polarizations:
            raise mismatch("Header/polarization_array", f"{h.polarizations}")
        if not np.array_equal(h.antenna_numbers, first.antenna_numbers) or (
            h.antenna_names != first.antenna_names
        ):
            raise mismatch("Header/antenna_numbers, antenna_names", "different antennas")
        if not np.allclose(
            h.antenna_positions_m, first.antenna_positions_m, rtol=0, atol=_POSITION_TOLERANCE_M
        ):
            raise mismatch("Header/antenna_positions", "different antenna positions")
        if not np.isclose(h.channel_width_hz, first.channel_width_hz, rtol=1e-9, atol=0):
            raise mismatch("Header/channel_width", f"{h.channel_width_hz} Hz")
        if not np.isclose(h.pointing_dec_rad, first.pointing_dec_rad, rtol=0, atol=1e-9):
            raise mismatch("Header/extra_keywords/phase_center_dec", "different pointing")
        site = (h.latitude_deg, h.longitude_deg, h.altitude_m)
        first_site = (first.latitude_deg, first.longitude_deg, first.altitude_m)
        if not np.allclose(site, first_site, rtol=0, atol=1e-6):
            raise mismatch("Header/latitude, longitude, altitude", "different array position")


def _band_plan(headers: dict[int, SubbandHeader], n_subbands: int) -> BandPlan:
    """Place each subband by its index and prove its frequencies agree with that place."""
    first = next(iter(headers.values()))
    n_chan, width = first.n_freqs, first.channel_width_hz
    span = n_chan * width
    ranges = sorted(headers.values(), key=lambda h: h.freqs_hz.min())
    for low, high in itertools.pairwise(ranges):
        if high.freqs_hz.min() <= low.freqs_hz.max():
            raise InputValidationError(
                high.path,
                "Header/freq_array",
                f"{high.freqs_hz.min() / 1e6:.4f}–{high.freqs_hz.max() / 1e6:.4f} MHz overlaps "
                f"{low.path.name} ({low.freqs_hz.min() / 1e6:.4f}–"
                f"{low.freqs_hz.max() / 1e6:.4f} MHz)",
            )
    # sb00 is the highest subband: a file's top channel, moved up by its index, must land
    # on the same top-of-band frequency for every file. The majority decides which files
    # disagree (misnamed) when there are several.
    implied_top = {sb: h.top_frequency_hz + sb * span for sb, h in headers.items()}
    keys = {sb: round(top / (width / 2)) for sb, top in implied_top.items()}
    majority_key = _majority(list(keys.values()))
    band_top = np.mean([implied_top[sb] for sb, key in keys.items() if key == majority_key])
    for sb, h in sorted(headers.items()):
        if keys[sb] != majority_key:
            actual = (band_top - h.top_frequency_hz) / span
            raise InputValidationError(
                h.path,
                "Header/freq_array",
                f"{h.freqs_hz.min() / 1e6:.4f}–{h.freqs_hz.max() / 1e6:.4f} MHz is where "
                f"subband {actual:.2f} belongs, not sb{sb:02d} as the file name says "
                "(sb00 is the highest)",
            )
    freqs = band_top - (n_subbands * n_chan - 1 - np.arange(n_subbands * n_chan)) * width
    for sb, h in headers.items():
        # The files' own frequencies are the record; the layout only fills the gaps.
        start = (n_subbands - 1 - sb) * n_chan
        freqs[start : start + n_chan] = np.sort(h.freqs_hz)
    return BandPlan(
        n_subbands=n_subbands, channels_per_subband=n_chan, channel_width_hz=width, freqs_hz=freqs
    )


def _majority(values: list[Any]) -> Any:
    return Counter(values).most_common(1)[0][0]


def _text(value: Any) -> str:
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace").strip()
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value).strip()
