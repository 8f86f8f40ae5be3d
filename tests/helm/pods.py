"""Read a rendered workload the way Kubernetes and the service would: its container, its
command line, its environment (downward API and Secrets resolved) and its settings file."""

from __future__ import annotations

import argparse
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from consumer.settings import ConsumerSettings
from dsa110_stream.cli import build_parser
from dsa110_stream.settings import ServiceSettings, load_settings
from producer.settings import ProducerSettings
from schemas.topics import TopicAdminSettings
from tests.helm.conftest import Manifests

#: Container name -> the settings model its command loads.
MODELS: dict[str, type[ServiceSettings]] = {
    "producer": ProducerSettings,
    "consumer": ConsumerSettings,
    "topics": TopicAdminSettings,
}

#: The only flags the chart passes besides the subcommand; each is mirrored below.
KNOWN_FLAGS = {"--config", "--input-dir", "--alter-configs"}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, "one container per pod"
    return containers[0]


def pod_name(workload: dict[str, Any]) -> str:
    """A name Kubernetes would give one of the workload's pods."""
    suffix = "-0" if workload["kind"] == "StatefulSet" else "-5d8f7c9b4-x2x7q"
    return workload["metadata"]["name"] + suffix


def settings_field(model: type[BaseModel], env_name: str) -> FieldInfo | None:
    """The field ``DSA110_A__B`` sets (prefix off, ``__`` between nested names), or None."""
    names = env_name.removeprefix("DSA110_").lower().split("__")
    current: type[BaseModel] | None = model
    field: FieldInfo | None = None
    for name in names:
        if current is None or name not in current.model_fields:
            return None
        field = current.model_fields[name]
        current = _model_in(field.annotation)
    return field


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``Model`` or ``Model | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def resolve_env(workload: dict[str, Any], manifests: Manifests) -> dict[str, str]:
    """The container's environment as the kubelet would set it."""
    env: dict[str, str] = {}
    for item in container(workload).get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.name", source
            env[item["name"]] = pod_name(workload)
        elif "secretKeyRef" in source:
            env[item["name"]] = secret_value(manifests, **source["secretKeyRef"])
        else:
            raise AssertionError(f"unexpected env source {source}")
    return env


def secret_value(manifests: Manifests, name: str, key: str, **_: Any) -> str:
    """The value of a key of a rendered Secret; a stand-in for a Secret the chart does not
    render (kafka.existingSecret)."""
    secrets = [s for s in manifests.of_kind("Secret") if s["metadata"]["name"] == name]
    if not secrets:
        return f"<{name}/{key}>"
    data = secrets[0].get("stringData", {})
    assert key in data, f"Secret {name} has no key {key}"
    return str(data[key])


@dataclass(frozen=True)
class Mount:
    volume: dict[str, Any]
    mount: dict[str, Any]


def mount_of(workload: dict[str, Any], path: PurePosixPath) -> Mount:
    """The volume mount that holds ``path`` (the deepest one)."""
    mounts = [
        m
        for m in container(workload).get("volumeMounts", [])
        if path == PurePosixPath(m["mountPath"]) or PurePosixPath(m["mountPath"]) in path.parents
    ]
    assert mounts, f"{path} is on no volume mount (the root filesystem is read-only)"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    return Mount(volumes[mount["name"]], mount)


def parse_command(workload: dict[str, Any]) -> argparse.Namespace:
    """The container's command line, parsed by the real ``dsa110-stream`` parser."""
    spec = container(workload)
    assert spec["command"] == ["dsa110-stream"], spec["command"]
    flags = {arg for arg in spec["args"] if arg.startswith("--")}
    assert flags <= KNOWN_FLAGS, f"flags the tests do not mirror: {flags - KNOWN_FLAGS}"
    return build_parser().parse_args(spec["args"])


def load_pod_settings(
    workload: dict[str, Any],
    manifests: Manifests,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> ServiceSettings:
    """Build the service's settings from its mounted config file, its environment and its
    flags, as the process in the pod would (the test's own DSA110_ variables removed)."""
    args = parse_command(workload)
    config = PurePosixPath(str(args.config))
    found = mount_of(workload, config)
    config_map = manifests.one("ConfigMap", found.volume["configMap"]["name"])
    key = str(config.relative_to(found.mount["mountPath"]))
    local = tmp_path / key
    local.write_text(config_map["data"][key])
    for name in [n for n in os.environ if n.startswith("DSA110_")]:
        monkeypatch.delenv(name)
    for name, value in resolve_env(workload, manifests).items():
        monkeypatch.setenv(name, value)
    overrides: dict[str, Any] = {}
    if getattr(args, "input_dir", None) is not None:
        overrides["input_dir"] = args.input_dir
    model = MODELS[container(workload)["name"]]
    return load_settings(model, local, **overrides)
