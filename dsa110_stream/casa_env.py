"""Make casatools and casatasks work offline, with no download at import time.

CASA reads its configuration when ``casatools`` is first imported: a site config named
by ``CASASITECONFIG`` sets the measures path to the ``casadata`` package from PyPI and
turns every automatic update off. Call :func:`configure_offline_casa` before the first
``import casatools``; importing casatools earlier makes it too late (the same trap as
setting ``OMP_NUM_THREADS`` after numpy is loaded).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dsa110-stream"


def configure_offline_casa(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Write the site config under ``cache_dir/casa`` and point ``CASASITECONFIG`` at it.

    Returns the config file's path. Idempotent; safe to call many times.
    """
    if "casatools" in sys.modules:
        existing = os.environ.get("CASASITECONFIG")
        if existing:
            return Path(existing)
        raise RuntimeError(
            "casatools was imported before configure_offline_casa(); call it first"
        )
    import casadata  # the measures data, shipped on PyPI

    casa_dir = cache_dir / "casa"
    casa_dir.mkdir(parents=True, exist_ok=True)
    site_config = casa_dir / "casasiteconfig.py"
    text = "\n".join(
        [
            "# Written by dsa110-stream: offline CASA (measures from the casadata package).",
            f"measurespath = {str(casadata.datapath)!r}",
            "measures_auto_update = False",
            "data_auto_update = False",
            "skipnetworkcheck = True",
            f"logfile = {str(casa_dir / 'casa.log')!r}",
            "nologger = True",
            "nogui = True",
            "",
        ]
    )
    if not site_config.exists() or site_config.read_text() != text:
        site_config.write_text(text)
    os.environ["CASASITECONFIG"] = str(site_config)
    return site_config
