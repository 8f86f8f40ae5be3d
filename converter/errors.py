"""The converter's exceptions: permanent bad input versus every other failure.

A caller that retries (the consumer) must tell the two apart: an
:class:`InputValidationError` will fail the same way every time and goes straight to the
dead-letter topic; any other :class:`ConversionError` (or an ``OSError`` from the file
system) may be transient and is worth a retry.
"""

from __future__ import annotations

from pathlib import Path


class ConversionError(Exception):
    """A conversion failed; nothing was published at the output path."""


class InputValidationError(ConversionError):
    """An input file is unusable: unreadable, inconsistent with the others, or misnamed.

    ``path`` is the offending file (``None`` when the problem concerns the set of files as
    a whole) and ``field`` the header field, dataset or property that is wrong.
    """

    def __init__(self, path: Path | None, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        where = f"{path}" if path is not None else "input files"
        super().__init__(f"{where}: {field}: {problem}")

    def __reduce__(self) -> tuple[type[InputValidationError], tuple[Path | None, str, str]]:
        # Rebuilt from its fields, not from the message: it crosses process boundaries.
        return type(self), (self.path, self.field, self.problem)
