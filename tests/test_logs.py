"""Logs are JSON lines off a terminal and carry bound context such as the group id."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from dsa110_stream.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Leave logging as the other tests found it."""
    handlers = logging.getLogger().handlers[:]
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = handlers


def test_json_lines_carry_bound_group_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    structlog.contextvars.bind_contextvars(group_id="2025-10-02T10:02:45")
    try:
        structlog.get_logger("t").info("converted", rows=42)
        structlog.get_logger("t").debug("hidden at INFO")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == "converted"
    assert lines[0]["group_id"] == "2025-10-02T10:02:45"
    assert lines[0]["level"] == "info" and lines[0]["rows"] == 42
    assert lines[0]["timestamp"].endswith("Z")


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD")
