"""Fill the MS v2 subtables: ANTENNA, FEED, SPECTRAL_WINDOW, POLARIZATION,
DATA_DESCRIPTION, FIELD, SOURCE, OBSERVATION, POINTING, STATE, PROCESSOR, HISTORY.

``tables.default_ms`` has already created them (SOURCE apart) with the standard column
descriptions; this module only adds rows. Directions are J2000 (FK5), times MJD seconds
(UTC), positions ITRF metres.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from casacore import tables
from pyuvdata.utils.io.ms import POL_AIPS2CASA_DICT

from converter.telescope import TELESCOPE_NAME

_UNIX_EPOCH_MJD_S = 40587.0 * 86400.0
#: MAIN-table keyword that makes SOURCE a subtable, and its value (a table reference).
SOURCE_KEYWORD = "SOURCE"
_TOPO = 5  # casacore MFrequency type code


@dataclass(frozen=True)
class SubtableContents:
    """Everything the subtables record about one converted dump."""

    antenna_names: tuple[str, ...]  # index = antenna number (ANTENNA row)
    antenna_stations: tuple[str, ...]
    antenna_itrf_m: npt.NDArray[np.float64]  # (Nants, 3) absolute
    dish_diameter_m: float
    freqs_hz: npt.NDArray[np.float64]  # ascending
    channel_width_hz: float
    spw_name: str
    polarizations_aips: tuple[int, ...]  # in the MS's correlation order
    field_name: str
    phase_center_rad: tuple[float, float]  # J2000 RA, Dec
    pointing_rad: tuple[float, float]  # J2000 RA, Dec of the dishes' pointing at mid-time
    time_range_mjd_s: tuple[float, float]  # first and last integration centres
    interval_s: float  # integration time
    history: tuple[str, ...]
    command_line: tuple[str, ...]
    software: str

    @property
    def mid_time_mjd_s(self) -> float:
        return 0.5 * (self.time_range_mjd_s[0] + self.time_range_mjd_s[1])

    @property
    def span_s(self) -> float:
        return self.time_range_mjd_s[1] - self.time_range_mjd_s[0] + self.interval_s


def write_subtables(ms_path: Path, contents: SubtableContents) -> None:
    """Add the rows of every subtable, and create SOURCE.

    The caller links SOURCE into the MAIN table's keywords (``SOURCE_KEYWORD``) through its
    own open handle: opening MAIN a second time would make casacore flush the whole
    table, zero-filling every tile of DATA before the data arrive.
    """
    _write_antenna(ms_path, contents)
    _write_feed(ms_path, contents)
    _write_spectral_window(ms_path, contents)
    _write_polarization(ms_path, contents)
    _write_rows(
        ms_path / "DATA_DESCRIPTION",
        [{"SPECTRAL_WINDOW_ID": 0, "POLARIZATION_ID": 0, "FLAG_ROW": False}],
    )
    _write_field(ms_path, contents)
    _write_source(ms_path, contents)
    _write_rows(
        ms_path / "OBSERVATION",
        [
            {
                "TELESCOPE_NAME": TELESCOPE_NAME,
                "OBSERVER": "DSA-110",
                "PROJECT": "dsa110-stream",
                "TIME_RANGE": np.array(contents.time_range_mjd_s),
                "RELEASE_DATE": 0.0,
                "SCHEDULE_TYPE": "",
                "FLAG_ROW": False,
            }
        ],
    )
    _write_pointing(ms_path, contents)
    _write_rows(
        ms_path / "STATE",
        [
            {
                "SIG": True,
                "REF": False,
                "CAL": 0.0,
                "LOAD": 0.0,
                "SUB_SCAN": 1,
                "OBS_MODE": "OBSERVE_TARGET#ON_SOURCE",
                "FLAG_ROW": False,
            }
        ],
    )
    _write_rows(
        ms_path / "PROCESSOR",
        [
            {
                "TYPE": "CORRELATOR",
                "SUB_TYPE": "DSA-110",
                "TYPE_ID": -1,
                "MODE_ID": -1,
                "FLAG_ROW": False,
            }
        ],
    )
    _write_history(ms_path, contents)


def _write_antenna(ms_path: Path, c: SubtableContents) -> None:
    n = len(c.antenna_names)
    _write_columns(
        ms_path / "ANTENNA",
        n,
        {
            "NAME": list(c.antenna_names),
            "STATION": list(c.antenna_stations),
            "TYPE": ["GROUND-BASED"] * n,
            "MOUNT": ["ALT-AZ"] * n,
            "POSITION": c.antenna_itrf_m,
            "OFFSET": np.zeros((n, 3)),
            "DISH_DIAMETER": np.full(n, c.dish_diameter_m),
            "FLAG_ROW": np.zeros(n, dtype=bool),
        },
    )
    with tables.table(str(ms_path / "ANTENNA"), readonly=False, ack=False) as antenna:
        measinfo = antenna.getcolkeyword("POSITION", "MEASINFO")
        measinfo["Ref"] = "ITRF"
        antenna.putcolkeyword("POSITION", "MEASINFO", measinfo)


def _write_feed(ms_path: Path, c: SubtableContents) -> None:
    n = len(c.antenna_names)
    _write_columns(
        ms_path / "FEED",
        n,
        {
            "ANTENNA_ID": np.arange(n, dtype=np.int32),
            "FEED_ID": np.zeros(n, dtype=np.int32),
            "SPECTRAL_WINDOW_ID": np.full(n, -1, dtype=np.int32),
            "TIME": np.full(n, c.mid_time_mjd_s),
            "INTERVAL": np.full(n, c.span_s),
            "NUM_RECEPTORS": np.full(n, 2, dtype=np.int32),
            "BEAM_ID": np.full(n, -1, dtype=np.int32),
            "BEAM_OFFSET": np.zeros((n, 2, 2)),
            "POLARIZATION_TYPE": np.array([["X", "Y"]] * n),
            "POL_RESPONSE": np.tile(np.eye(2, dtype=np.complex64), (n, 1, 1)),
            "POSITION": np.zeros((n, 3)),
            "RECEPTOR_ANGLE": np.tile([0.0, np.pi / 2], (n, 1)),
        },
    )


def _write_spectral_window(ms_path: Path, c: SubtableContents) -> None:
    n_chan = c.freqs_hz.size
    widths = np.full(n_chan, c.channel_width_hz)
    _write_rows(
        ms_path / "SPECTRAL_WINDOW",
        [
            {
                "NAME": c.spw_name,
                "NUM_CHAN": n_chan,
                "CHAN_FREQ": c.freqs_hz,
                "CHAN_WIDTH": widths,
                "EFFECTIVE_BW": widths,
                "RESOLUTION": widths,
                "REF_FREQUENCY": float(c.freqs_hz[0]),
                "TOTAL_BANDWIDTH": float(n_chan * c.channel_width_hz),
                "MEAS_FREQ_REF": _TOPO,
                "NET_SIDEBAND": 1,
                "FREQ_GROUP": 0,
                "FREQ_GROUP_NAME": "",
                "IF_CONV_CHAIN": 0,
                "FLAG_ROW": False,
            }
        ],
    )


def _write_polarization(ms_path: Path, c: SubtableContents) -> None:
    corr_types = np.array([POL_AIPS2CASA_DICT[p] for p in c.polarizations_aips], np.int32)
    # Receptor pairs: XX→(0,0), XY→(0,1), YX→(1,0), YY→(1,1) (likewise for RR..LL).
    receptors = {9: (0, 0), 10: (0, 1), 11: (1, 0), 12: (1, 1),
                 5: (0, 0), 6: (0, 1), 7: (1, 0), 8: (1, 1)}  # fmt: skip
    products = np.array([receptors[int(t)] for t in corr_types], np.int32)
    _write_rows(
        ms_path / "POLARIZATION",
        [
            {
                "NUM_CORR": corr_types.size,
                "CORR_TYPE": corr_types,
                "CORR_PRODUCT": products,
                "FLAG_ROW": False,
            }
        ],
    )


def _write_field(ms_path: Path, c: SubtableContents) -> None:
    direction = np.array([c.phase_center_rad])  # (NUM_POLY + 1, 2)
    _write_rows(
        ms_path / "FIELD",
        [
            {
                "NAME": c.field_name,
                "CODE": "",
                "TIME": c.mid_time_mjd_s,
                "NUM_POLY": 0,
                "DELAY_DIR": direction,
                "PHASE_DIR": direction,
                "REFERENCE_DIR": direction,
                "SOURCE_ID": 0,
                "FLAG_ROW": False,
            }
        ],
    )
    _set_direction_frame(ms_path / "FIELD", ("DELAY_DIR", "PHASE_DIR", "REFERENCE_DIR"))


def _write_source(ms_path: Path, c: SubtableContents) -> None:
    path = ms_path / "SOURCE"
    tables.default_ms_subtable("SOURCE", str(path)).close()
    _write_rows(
        path,
        [
            {
                "SOURCE_ID": 0,
                "NAME": c.field_name,
                "CODE": "",
                "TIME": c.mid_time_mjd_s,
                "INTERVAL": c.span_s,
                "SPECTRAL_WINDOW_ID": -1,
                "NUM_LINES": 0,
                "CALIBRATION_GROUP": 0,
                "DIRECTION": np.array(c.phase_center_rad),
                "PROPER_MOTION": np.zeros(2),
            }
        ],
    )
    _set_direction_frame(path, ("DIRECTION",))


def _write_pointing(ms_path: Path, c: SubtableContents) -> None:
    n = len(c.antenna_names)
    direction = np.tile(np.array([c.pointing_rad]), (n, 1, 1))
    _write_columns(
        ms_path / "POINTING",
        n,
        {
            "ANTENNA_ID": np.arange(n, dtype=np.int32),
            "TIME": np.full(n, c.mid_time_mjd_s),
            "INTERVAL": np.full(n, c.span_s),
            "NAME": [c.field_name] * n,
            "NUM_POLY": np.zeros(n, dtype=np.int32),
            "TIME_ORIGIN": np.full(n, c.mid_time_mjd_s),
            "DIRECTION": direction,
            "TARGET": direction,
            "TRACKING": np.zeros(n, dtype=bool),
        },
    )
    _set_direction_frame(ms_path / "POINTING", ("DIRECTION", "TARGET"))


def _write_history(ms_path: Path, c: SubtableContents) -> None:
    now = time.time() + _UNIX_EPOCH_MJD_S
    _write_rows(
        ms_path / "HISTORY",
        [
            {
                "TIME": now,
                "OBSERVATION_ID": 0,
                "MESSAGE": message,
                "PRIORITY": "NORMAL",
                "ORIGIN": "converter.convert_group",
                "OBJECT_ID": 0,
                "APPLICATION": c.software,
                "CLI_COMMAND": np.array(list(c.command_line) or [""]),
                "APP_PARAMS": np.array([""]),
            }
            for message in c.history
        ],
    )


def _write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with tables.table(str(path), readonly=False, ack=False) as table:
        start = table.nrows()
        table.addrows(len(rows))
        for offset, row in enumerate(rows):
            for column, value in row.items():
                table.putcell(column, start + offset, value)


def _write_columns(path: Path, n_rows: int, columns: dict[str, Any]) -> None:
    with tables.table(str(path), readonly=False, ack=False) as table:
        table.addrows(n_rows)
        for column, values in columns.items():
            table.putcol(column, values)


def _set_direction_frame(path: Path, columns: Sequence[str]) -> None:
    with tables.table(str(path), readonly=False, ack=False) as table:
        for column in columns:
            measinfo = table.getcolkeyword(column, "MEASINFO")
            measinfo["Ref"] = "J2000"
            table.putcolkeyword(column, "MEASINFO", measinfo)
