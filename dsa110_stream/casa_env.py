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


#: casacore resource ("aipsrc") line that turns table locking off for the process.
_NO_LOCKING = "table.nolocking: true\n"


def build_tables_without_locks(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Turn casacore's table locking off in a process that only builds new MSs.

    casacore locks a table through its ``table.lock`` file, which it rewrites and
    fsyncs at every lock and release: about 100 fsyncs per MS (counted with strace),
    and on a disk busy with the conversion's input reads each waits behind them (the
    ``create`` stage stalled for 0.5 s in one cold conversion in three). An MS being
    built lies in a scratch directory no other process opens before it is renamed into
    place, so its tables need no locks; but the setting (``table.nolocking``) exists only
    in casacore's resource files, read once per process when the first table is opened,
    and holds for every table the process opens. Hence only the conversion workers (of
    ``dsa110-stream convert``/``convert-dir`` and of the consumer) call this, first.

    Puts a resource file holding that one line first in ``CASARCFILES``, followed by the
    files casacore reads otherwise (the user's, and python-casacore's own with the
    measures data path). Returns its path. Idempotent.
    """
    import casacore  # noqa: F401  (sets AIPSPATH to its resource file's directory if unset)

    settings = cache_dir / "casacore" / "no-table-locks.rc"
    settings.parent.mkdir(parents=True, exist_ok=True)
    if not settings.exists() or settings.read_text() != _NO_LOCKING:
        settings.write_text(_NO_LOCKING)
    files = os.environ.get("CASARCFILES") or ":".join(map(str, _default_resource_files()))
    listed = files.split(":")
    if str(settings) not in listed:
        os.environ["CASARCFILES"] = ":".join([str(settings), *listed])
    return settings


def _default_resource_files() -> list[Path]:
    """casacore's resource files when ``CASARCFILES`` is unset (``Aipsrc::parse``): the
    user's, then ``.aipsrc`` at the AIPSPATH root and ``aipsrc`` at its host, site and
    architecture levels (AIPSPATH = "root [arch [site [host]]]")."""
    home = Path.home()
    files = [home / ".casarc", home / ".casa" / "rc", home / ".aipsrc"]
    words = os.environ.get("AIPSPATH", "").split()
    if words:
        root = Path(words[0])
        arch = root / words[1] if len(words) > 1 else root
        site = arch / words[2] if len(words) > 2 else arch
        host = site / words[3] if len(words) > 3 else site
        files += [root / ".aipsrc", host / "aipsrc", site / "aipsrc", arch / "aipsrc"]
    return files
