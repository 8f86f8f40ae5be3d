"""dsa110-stream: DSA-110 subband files to Measurement Sets, as a Kafka event stream.

This package is the application shell: the command line, typed settings, logging and
the offline CASA environment. The jobs themselves live in the top-level packages
``producer``, ``consumer``, ``converter`` and ``schemas`` (the event contract).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsa110-stream")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
