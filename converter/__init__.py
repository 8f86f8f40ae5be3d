"""Converter: the subband files of one dump → one CASA Measurement Set. Imports nothing from Kafka.

Public API::

    from converter import convert_group, ConversionOptions
    result = convert_group(files, Path("2025-10-02T10:02:45.ms"), ConversionOptions())

See ``docs/converter.md`` for what the MS contains and how fast it is written.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from converter.convert import convert_group
    from converter.errors import ConversionError, InputValidationError
    from converter.options import ConversionOptions, ConversionResult, InputFile

# Loaded on first use: ``converter.grouping`` (used by the producer and the consumer's
# poll loop) must not pull in pyuvdata, numba and casacore.
_EXPORTS = {
    "convert_group": "converter.convert",
    "ConversionError": "converter.errors",
    "InputValidationError": "converter.errors",
    "ConversionOptions": "converter.options",
    "ConversionResult": "converter.options",
    "InputFile": "converter.options",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'converter' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = [
    "ConversionError",
    "ConversionOptions",
    "ConversionResult",
    "InputFile",
    "InputValidationError",
    "convert_group",
]
