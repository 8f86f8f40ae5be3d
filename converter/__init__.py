"""Converter: the subband files of one dump → one CASA Measurement Set. Imports nothing from Kafka.

Public API::

    from converter import convert_group, ConversionOptions
    result = convert_group(files, Path("2025-10-02T10:02:45.ms"), ConversionOptions())

See ``docs/converter.md`` for what the MS contains and how fast it is written.
"""

from converter.convert import convert_group
from converter.errors import ConversionError, InputValidationError
from converter.options import ConversionOptions, ConversionResult, InputFile

__all__ = [
    "ConversionError",
    "ConversionOptions",
    "ConversionResult",
    "InputFile",
    "InputValidationError",
    "convert_group",
]
