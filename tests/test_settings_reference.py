"""docs/configuration.md is generated from the settings models and must be current."""

from __future__ import annotations

from pathlib import Path

from dsa110_stream.settings_reference import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_configuration_reference_is_up_to_date() -> None:
    assert DOC.read_text() == render(), (
        "docs/configuration.md is stale: run "
        "`.venv/bin/python -m dsa110_stream.settings_reference > docs/configuration.md`"
    )


def test_reference_lists_environment_names_of_nested_settings() -> None:
    text = render()
    assert "`DSA110_KAFKA__BOOTSTRAP_SERVERS`" in text
    assert "`DSA110_TOPICS__SUBBANDS`" in text
