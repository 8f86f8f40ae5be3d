"""Typed settings: defaults < YAML config file < environment < command-line flags.

Every service defines one model derived from :class:`ServiceSettings`. Environment
variables use the prefix ``DSA110_`` and ``__`` between nested names, e.g.
``DSA110_KAFKA__BOOTSTRAP_SERVERS=broker:9092``. The reference table of every setting is
in ``docs/configuration.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class KafkaSettings(BaseModel):
    """How to reach the Kafka cluster (and, optionally, a Schema Registry)."""

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of brokers."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="librdkafka security.protocol."
    )
    sasl_mechanism: str | None = Field(default=None, description="e.g. SCRAM-SHA-512 or PLAIN.")
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password; from a Kubernetes Secret, never logged."
    )
    ssl_ca_location: Path | None = Field(default=None, description="CA bundle for TLS.")
    schema_registry_url: str | None = Field(
        default=None, description="Confluent Schema Registry URL; unset = deterministic local ids."
    )
    client_overrides: dict[str, str] = Field(
        default_factory=dict, description="Extra librdkafka properties, passed through as is."
    )

    def client_config(self) -> dict[str, Any]:
        """librdkafka properties common to producers, consumers and admin clients."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location:
            config["ssl.ca.location"] = str(self.ssl_ca_location)
        config.update(self.client_overrides)
        return config


class TopicSettings(BaseModel):
    """Topic names (DESIGN.md defaults)."""

    subbands: str = Field(default="dsa110.subbands.v1", description="One event per subband file.")
    ms_ready: str = Field(default="dsa110.ms-ready.v1", description="One event per finished MS.")
    dead_letter: str = Field(
        default="dsa110.dead-letter.v1",
        description="Rejected files, undecodable events, failed groups.",
    )


class ObservabilitySettings(BaseModel):
    """Logs, health and metrics endpoints."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged."
    )
    log_json: bool | None = Field(default=None, description="None: JSON when stderr is not a TTY.")
    metrics_port: int | None = Field(
        default=None, description="Port for /metrics, /healthz and /readyz; None disables it."
    )
    metrics_host: str = Field(default="0.0.0.0", description="Interface the endpoints listen on.")


class ServiceSettings(BaseSettings):
    """Base of every service's settings model."""

    model_config = SettingsConfigDict(
        env_prefix="DSA110_", env_nested_delimiter="__", extra="forbid"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    observability: ObservabilitySettings = Field(
        default_factory=ObservabilitySettings
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: command-line flags (passed as init kwargs), environment, config file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("yaml_file"):
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def load_command_settings(
    model: type[SettingsT], config_file: Path | None, service: str, **overrides: Any
) -> SettingsT | None:
    """:func:`load_settings` for a command: invalid settings are explained on stderr and
    give None (the command then exits with status 2) instead of a traceback."""
    try:
        return load_settings(model, config_file, **overrides)
    except (ValidationError, FileNotFoundError) as exc:
        print(f"error: invalid {service} settings: {exc}", file=sys.stderr)
        return None


def service_flag_overrides(
    bootstrap_servers: str | None, metrics_port: int | None
) -> dict[str, Any]:
    """Nested overrides for the flags every Kafka service has (--bootstrap-servers,
    --metrics-port), in the form :func:`load_settings` takes."""
    overrides: dict[str, Any] = {}
    if bootstrap_servers:
        overrides["kafka"] = {"bootstrap_servers": bootstrap_servers}
    if metrics_port is not None:
        overrides["observability"] = {"metrics_port": metrics_port}
    return overrides


def load_settings(
    model: type[SettingsT], config_file: Path | None = None, **overrides: Any
) -> SettingsT:
    """Build ``model`` from its defaults, a YAML file, the environment and ``overrides``.

    ``overrides`` are the command-line flags the user actually gave (``None`` values are
    dropped so that an absent flag does not hide a lower-priority source). Nested fields
    are given as dictionaries, e.g. ``kafka={"bootstrap_servers": "h:9092"}``.
    """
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")
    cls: type[SettingsT] = model
    if config_file is not None:
        config = SettingsConfigDict(**{**model.model_config, "yaml_file": str(config_file)})
        cls = type(model.__name__, (model,), {"model_config": config})
    given = {key: value for key, value in overrides.items() if value is not None}
    return cls(**given)
