"""How a DSA-110 reader must open these files with pyuvdata 3.2 (used by the tests)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pyuvdata import UVData


def read_uvdata(path: Path) -> UVData:
    """Read a correlator-layout file, then run pyuvdata's full check.

    pyuvdata's check rejects the float32 ``uvw_array`` these files carry, so read
    unchecked, cast to float64, and check.
    """
    uv = UVData.from_file(str(path), file_type="uvh5", run_check=False)
    uv.uvw_array = uv.uvw_array.astype(np.float64)
    with warnings.catch_warnings():
        # pyuvdata takes "drift" uvws to be zenith (ENU) ones; these point at the meridian.
        warnings.filterwarnings("ignore", message="The uvw_array does not match the expected")
        uv.check()
    return uv
