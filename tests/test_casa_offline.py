"""CASA works offline: both packages import and measures converts with packaged data."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.casa

SCRIPT = """
import math
from dsa110_stream.casa_env import configure_offline_casa
configure_offline_casa()
import casatools, casatasks  # noqa: F401
me = casatools.measures()
obs = me.observatory("OVRO_MMA")
assert abs(obs["m0"]["value"] - (-2.064427799)) < 1e-6, obs
assert abs(obs["m1"]["value"] - 0.649845511) < 1e-6, obs
me.doframe(obs)
me.doframe(me.epoch("utc", "60950d"))
radec = me.measure(me.direction("HADEC", "0rad", "0.7rad"), "J2000")
print("J2000", radec["m0"]["value"], radec["m1"]["value"])
"""


def test_casatools_and_casatasks_import_offline_and_measures_converts() -> None:
    env = {
        **os.environ,
        # Any attempt to reach the network fails fast instead of hanging.
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
    }
    env.pop("CASASITECONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ra, dec = (float(v) for v in result.stdout.split()[1:3])
    # HA = 0 at declination 0.7 rad is on the meridian: J2000 dec close to 0.7 rad
    # (precession over ~25 years moves it by well under a degree).
    assert abs(dec - 0.7) < 0.01
    assert -3.2 < ra < 6.3
    assert "download" not in result.stderr.lower()
