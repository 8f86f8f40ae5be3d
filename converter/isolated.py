"""Conversions in a worker process, so that one that crashes takes only itself down.

A conversion reads its inputs through memory maps (:mod:`converter.reader`): a file
truncated while it is being read ends the process with SIGBUS, and the kernel's OOM
killer ends a process without a word. The commands therefore convert in a worker
process (``convert-dir`` one group after another, in a worker replaced when it dies;
``convert`` its one group): such a crash fails that group only, with a message that
says what happened, and a batch run goes on.
Exceptions of a conversion (:class:`~converter.errors.InputValidationError`, other
:class:`~converter.errors.ConversionError`\\ s, ``OSError``) reach the caller unchanged.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType
from typing import Any

from converter.errors import ConversionError
from converter.options import ConversionOptions, ConversionResult


def _convert_group(
    files: Sequence[Path], output: Path, options: ConversionOptions
) -> ConversionResult:
    """``convert_group``, imported in the worker only: the caller's process need not
    load pyuvdata, numba and casacore to start a conversion elsewhere."""
    from converter.convert import convert_group

    return convert_group(files, output, options)


class WorkerDied(ConversionError):
    """The worker process died during a conversion (a signal, such as SIGBUS or SIGKILL)."""


class IsolatedConverter:
    """``convert_group`` in one worker process, started on first use.

    ``initializer(*initargs)`` runs in every new worker first (e.g. to configure logging
    as the parent did). ``start_method`` "spawn" starts a fresh interpreter, which
    imports the converter itself (~3 s); "fork" copies the caller, for a caller that has
    imported ``converter.convert`` already and runs no other Python thread. Not thread-safe:
    one conversion at a time.
    """

    def __init__(
        self,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        start_method: str = "spawn",
    ) -> None:
        self._initializer = initializer
        self._initargs = initargs
        self._start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def convert(
        self, files: Sequence[Path], output: Path, options: ConversionOptions
    ) -> ConversionResult:
        """Convert in the worker; raise :class:`WorkerDied` if it died meanwhile."""
        call = functools.partial(_convert_group, list(files), output, options)
        try:
            future = self._worker().submit(call)
        except BrokenProcessPool:  # died while idle: nothing of ours was lost, start again
            self._discard()
            future = self._worker().submit(call)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._discard()
            raise WorkerDied(
                f"the conversion process for {output} died (killed by a signal: SIGBUS if "
                "an input file was truncated or replaced while it was read, SIGKILL from "
                "the kernel's OOM killer); no MS was published. Check the inputs and the "
                "memory limit, then convert the group again"
            ) from exc

    def _worker(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context(self._start_method),
                initializer=self._initializer,
                initargs=self._initargs,
            )
        return self._pool

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Let the worker finish and exit (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> IsolatedConverter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:  # interrupted: do not wait for a conversion nobody will look at
            self._discard()
