"""astropy's Earth-orientation table (UT1−UTC for the LST), parsed once per installation.

astropy parses its bundled IERS-A and IERS-B text tables on first use in every process
(~0.7 s of CPU, holding the GIL), which in a one-shot ``dsa110-stream convert`` competes
with reading the input headers. The parsed table is kept as a pickle in the user's cache
directory, keyed by the astropy version and the bundled tables' sizes and mtimes, and
loaded from there (~0.04 s) by later processes. The cache is this user's own directory;
a missing, stale or unreadable copy is parsed again.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import astropy
import structlog
from astropy.utils import iers

log = structlog.get_logger(__name__)

#: Overrides the cache directory (default: ``$XDG_CACHE_HOME/dsa110-stream``).
CACHE_DIR_VARIABLE = "DSA110_CACHE_DIR"


def load_earth_orientation() -> None:
    """Make ``IERS_Auto.open()`` return the bundled table without parsing it again."""
    if iers.IERS_Auto.iers_table is not None:
        return
    path = _cache_path()
    table = _read_cache(path)
    if table is None:
        table = iers.IERS_Auto.open()
        _write_cache(path, table)
    iers.IERS_Auto.iers_table = table


def _cache_path() -> Path:
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        root = Path(configured)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "dsa110-stream"
    stamps = "-".join(
        f"{stat.st_size}.{stat.st_mtime_ns}"
        for stat in (Path(iers.IERS_A_FILE).stat(), Path(iers.IERS_B_FILE).stat())
    )
    return root / f"iers-auto-astropy{astropy.__version__}-{stamps}.pickle"


def _read_cache(path: Path) -> iers.IERS_Auto | None:
    try:
        table = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged or foreign file: parse the tables again
        log.warning("ignoring the cached IERS table", path=str(path), error=str(exc))
        return None
    return table if isinstance(table, iers.IERS_Auto) else None


def _write_cache(path: Path, table: iers.IERS_Auto) -> None:
    partial: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as out:
            partial = Path(out.name)
            pickle.dump(table, out, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
    except OSError as exc:  # a read-only home: every process parses, as astropy does
        if partial is not None:
            partial.unlink(missing_ok=True)
        log.info("cannot cache the IERS table", path=str(path), error=str(exc))
