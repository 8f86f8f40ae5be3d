"""Where candidate files come from: inotify events and directory scans, into one queue.

With inotify (watchdog's ``InotifyObserver``), a *close-after-write* or a *rename into the
directory* (from inside or outside it) says the writer is done: the file is signalled
as ``closed``. A plain *create* (symlinks and hard links never close-write) is signalled
too, without that evidence, so the stability rule applies. Scans (at start-up, every
``poll_seconds`` in poll mode, every ``rescan_seconds`` as a safety net in inotify mode)
list the directory and feed the same path.
"""

from __future__ import annotations

import os
import queue
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.inotify import InotifyObserver

from producer.admission import is_candidate_name
from producer.completeness import FileStat


@dataclass(frozen=True)
class FileSignal:
    """A file in the ingest directory worth a look; ``closed`` = the writer is known done."""

    path: Path
    closed: bool


@dataclass(frozen=True)
class ScannedFile:
    """A candidate found by a scan; ``stat`` is None for a symlink whose target is missing."""

    path: Path
    stat: FileStat | None


def scan_directory(directory: Path) -> list[ScannedFile]:
    """Candidate files directly in ``directory`` (symlinks included, sub-directories not)."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_candidate_name(entry.name):
                continue
            if not (entry.is_symlink() or entry.is_file()):
                continue
            try:
                result = entry.stat()
                stat: FileStat | None = FileStat(result.st_size, result.st_mtime_ns)
            except FileNotFoundError:
                stat = None
            found.append(ScannedFile(Path(entry.path), stat))
    return found


class _Handler(FileSystemEventHandler):
    def __init__(self, directory: Path, signals: queue.SimpleQueue[FileSignal]) -> None:
        self._directory = directory
        self._signals = signals

    def _offer(self, raw: bytes | str, closed: bool) -> None:
        path = Path(os.fsdecode(raw))
        if path.parent == self._directory and is_candidate_name(path.name):
            self._signals.put(FileSignal(path, closed))

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent):
            if event.dest_path:  # moved out of the directory: nothing to publish
                self._offer(event.dest_path, closed=True)
        elif isinstance(event, FileClosedEvent):
            self._offer(event.src_path, closed=True)
        elif isinstance(event, FileCreatedEvent):
            self._offer(event.src_path, closed=False)


class DirectoryWatcher:
    """inotify watch on one directory, delivering :class:`FileSignal` s to ``signals``."""

    def __init__(self, directory: Path, signals: queue.SimpleQueue[FileSignal]) -> None:
        self._directory = directory
        self._signals = signals
        self._observer: InotifyObserver | None = None

    def start(self) -> None:
        try:
            # Full events: a file renamed in from outside the directory arrives as a move
            # (the writer is done), not as a creation.
            observer = InotifyObserver(generate_full_events=True)
            observer.schedule(
                _Handler(self._directory, self._signals),
                str(self._directory),
                recursive=False,
                event_filter=[FileClosedEvent, FileMovedEvent, FileCreatedEvent],
            )
            observer.start()
        except OSError as exc:
            raise OSError(
                f"cannot watch {self._directory} with inotify ({exc}); raise "
                "fs.inotify.max_user_watches / max_user_instances, or use --poll"
            ) from exc
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
