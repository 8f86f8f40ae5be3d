"""Settings precedence: defaults < config file < environment < command-line flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dsa110_stream.settings import ServiceSettings, load_settings


class DemoSettings(ServiceSettings):
    workers: int = 1
    name: str = "default"


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "svc.yaml"
    config.write_text(
        "workers: 2\nname: from-file\nkafka:\n  bootstrap_servers: file:9092\n"
        "topics:\n  subbands: file.subbands\n"
    )
    assert load_settings(DemoSettings).workers == 1
    from_file = load_settings(DemoSettings, config)
    assert (from_file.workers, from_file.name) == (2, "from-file")
    assert from_file.kafka.bootstrap_servers == "file:9092"
    assert from_file.topics.subbands == "file.subbands"
    assert from_file.topics.ms_ready == "dsa110.ms-ready.v1"  # default kept

    monkeypatch.setenv("DSA110_WORKERS", "3")
    monkeypatch.setenv("DSA110_KAFKA__BOOTSTRAP_SERVERS", "env:9092")
    from_env = load_settings(DemoSettings, config)
    assert from_env.workers == 3 and from_env.name == "from-file"
    assert from_env.kafka.bootstrap_servers == "env:9092"

    from_cli = load_settings(DemoSettings, config, workers=4, name=None)
    assert from_cli.workers == 4, "a given flag wins"
    assert from_cli.name == "from-file", "an absent flag (None) hides nothing"


def test_unknown_setting_and_missing_file_are_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("wokers: 2\n")
    with pytest.raises(ValidationError, match="wokers"):
        load_settings(DemoSettings, bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_settings(DemoSettings, tmp_path / "absent.yaml")


def test_kafka_client_config_carries_security() -> None:
    settings = load_settings(
        DemoSettings,
        kafka={
            "bootstrap_servers": "b:9093",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "u",
            "sasl_password": "s3cr3t-pw",
        },
    )
    config = settings.kafka.client_config()
    assert config["bootstrap.servers"] == "b:9093"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "s3cr3t-pw"
    assert "s3cr3t-pw" not in repr(settings.kafka), "secrets must not leak into logs"
