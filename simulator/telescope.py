"""DSA-110 as the correlator sees it: site, timing, frequency plan and antenna layout.

Values come from DOMAIN.md §1–2 and the correlator's own configuration (the
dsa110-meridian-fs writer): 8192 fine channels of 250 MHz / 8192 descending from
1.53 GHz; subband ``s`` is fine channels ``1024 + 384 s`` .. ``+383``, averaged by 8 into
48 channels of 244,140.625 Hz. That puts sb00 at 1498.64 MHz (highest) and sb15 at
1311.39–1322.86 MHz, matching the telescope team's SPW 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy import units as u
from astropy.coordinates import EarthLocation

from converter.telescope import DISH_DIAMETER_M as DISH_DIAMETER_M
from converter.telescope import DUMP_SECONDS, INTEGRATIONS_PER_DUMP
from converter.telescope import INTEGRATION_TIME_S as INTEGRATION_TIME_S
from converter.telescope import OVRO_MMA_ALTITUDE_M as SITE_ALT_M
from converter.telescope import OVRO_MMA_LATITUDE_RAD as SITE_LAT_RAD
from converter.telescope import OVRO_MMA_LONGITUDE_RAD as SITE_LON_RAD
from simulator.stations import Station

# The site, the dish and the dump's timing are facts of the telescope, defined once in
# converter.telescope (a prototype file had three dish diameters); re-exported here under
# the simulator's names. Dumps drift ~9.2 s per dump against a 5-minute grid.

N_ANTENNAS_TELESCOPE = 117
N_SUBBANDS = 16
N_TIMES = INTEGRATIONS_PER_DUMP
DUMP_CADENCE_S = DUMP_SECONDS
CHANNELS_PER_SUBBAND = 48
POLARIZATIONS = (-5, -6)  # XX, YY (AIPS memo 117)

_TOP_FREQUENCY_HZ = 1.53e9
_FINE_CHANNEL_HZ = 250e6 / 8192
_FIRST_FINE_CHANNEL = 1024
_FINE_CHANNELS_PER_SUBBAND = 384


def site_location() -> EarthLocation:
    """The array centre (WGS84) as an astropy location."""
    return EarthLocation.from_geodetic(
        lon=SITE_LON_RAD * u.rad, lat=SITE_LAT_RAD * u.rad, height=SITE_ALT_M * u.m
    )


def subband_frequencies(subband: int, n_channels: int = CHANNELS_PER_SUBBAND) -> npt.NDArray:
    """Channel centres (Hz) of one subband, descending, as the correlator writes them.

    ``n_channels`` other than 48 splits the same 11.72 MHz subband into wider or
    narrower channels (for small test files); the band edges do not move.
    """
    if not 0 <= subband < N_SUBBANDS:
        raise ValueError(f"subband {subband} is out of range 0..{N_SUBBANDS - 1}")
    if n_channels < 1 or _FINE_CHANNELS_PER_SUBBAND % n_channels:
        raise ValueError(f"n_channels must divide {_FINE_CHANNELS_PER_SUBBAND}, got {n_channels}")
    first_fine = _FIRST_FINE_CHANNEL + _FINE_CHANNELS_PER_SUBBAND * subband
    upper_edge = _TOP_FREQUENCY_HZ - (first_fine - 0.5) * _FINE_CHANNEL_HZ
    width = channel_width_hz(n_channels)
    return upper_edge - (np.arange(n_channels) + 0.5) * width


def channel_width_hz(n_channels: int = CHANNELS_PER_SUBBAND) -> float:
    """Width of one channel (Hz, positive) when a subband has ``n_channels`` channels."""
    return _FINE_CHANNEL_HZ * _FINE_CHANNELS_PER_SUBBAND / n_channels


@dataclass(frozen=True)
class ArrayLayout:
    """Antennas of the whole telescope and the subset that has data in the files.

    ``positions_m`` are relative ITRF/ECEF positions (station ECEF minus array-centre
    ECEF) for antenna numbers 0..116; stations absent from the table sit at the centre.
    Baselines are every pair ``(i <= j)`` of data antennas, autos included, ordered as
    ``numpy.triu_indices`` orders them.
    """

    antenna_numbers: npt.NDArray  # (117,) int
    antenna_names: tuple[str, ...]
    positions_m: npt.NDArray  # (117, 3)
    data_antennas: npt.NDArray  # (Nants_data,) antenna numbers with data, ascending
    ant_1: npt.NDArray  # (Nbls,) antenna numbers
    ant_2: npt.NDArray

    @property
    def n_baselines(self) -> int:
        return int(self.ant_1.size)


def build_layout(stations: Sequence[Station], data_station_numbers: Sequence[int]) -> ArrayLayout:
    """Lay out the telescope from the station table, with data from the chosen stations.

    A station without an elevation (DSA-117 in the current table) is placed at the
    array-centre altitude: the only height the table offers for it.
    """
    by_number = {s.number: s for s in stations}
    unknown = sorted(set(data_station_numbers) - set(by_number))
    if unknown:
        raise ValueError(f"stations {unknown} are not in the station table")
    numbers = np.arange(N_ANTENNAS_TELESCOPE)
    positions = np.zeros((N_ANTENNAS_TELESCOPE, 3))
    present = [s for s in stations if 1 <= s.number <= N_ANTENNAS_TELESCOPE]
    if present:
        locations = EarthLocation.from_geodetic(
            lon=[s.lon_deg for s in present] * u.deg,
            lat=[s.lat_deg for s in present] * u.deg,
            height=[SITE_ALT_M if s.elevation_m is None else s.elevation_m for s in present] * u.m,
        )
        centre = site_location()
        relative = np.stack(
            [
                (locations.x - centre.x).to_value(u.m),
                (locations.y - centre.y).to_value(u.m),
                (locations.z - centre.z).to_value(u.m),
            ],
            axis=-1,
        )
        positions[[s.antenna_number for s in present]] = relative
    data_antennas = np.array(sorted(by_number[n].antenna_number for n in data_station_numbers))
    i, j = np.triu_indices(data_antennas.size)
    return ArrayLayout(
        antenna_numbers=numbers,
        antenna_names=tuple(str(n + 1) for n in numbers),
        positions_m=positions,
        data_antennas=data_antennas,
        ant_1=data_antennas[i],
        ant_2=data_antennas[j],
    )


def spread_stations(stations: Sequence[Station], count: int) -> list[int]:
    """``count`` station numbers spread evenly over the table (both arms, long baselines).

    The first stations of the table form one tight east–west row; taking them would
    give short, nearly collinear baselines that hide phasing errors.
    """
    if not 1 <= count <= len(stations):
        raise ValueError(f"n_antennas must be 1..{len(stations)}, got {count}")
    ordered = sorted(s.number for s in stations)
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, count)).astype(int))
    return [ordered[k] for k in picks]
