"""The rendered pods configure the real services: every DSA110_ variable names a settings
field, and each pod's settings file + environment + flags load into its settings model."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from consumer.settings import ConsumerSettings
from producer.settings import ProducerSettings
from schemas.topics import TopicAdminSettings
from tests.helm.conftest import Manifests, Render
from tests.helm.pods import (
    MODELS,
    container,
    load_pod_settings,
    mount_of,
    pod_name,
    pod_spec,
    settings_field,
)
from tests.helm.values_examples import EVERYTHING_ON, EXISTING_SECRET

VARIANTS = {"defaults": {}, "everything-on": EVERYTHING_ON, "existing-secret": EXISTING_SECRET}


@pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
def manifests(request: pytest.FixtureRequest, render: Render) -> Manifests:
    return render(VARIANTS[request.param])


def test_settings_field_lookup_is_strict() -> None:
    """The mapping the next test relies on rejects names that set nothing."""
    assert settings_field(ConsumerSettings, "DSA110_KAFKA__SASL_PASSWORD") is not None
    assert settings_field(ConsumerSettings, "DSA110_INSTANCE_ID") is not None
    assert settings_field(ConsumerSettings, "DSA110_GROUP_INSTANCE_ID") is None
    assert settings_field(ConsumerSettings, "DSA110_KAFKA__PASSWORD") is None
    assert settings_field(ProducerSettings, "DSA110_INSTANCE_ID") is None


def test_every_dsa110_variable_sets_a_field(manifests: Manifests) -> None:
    checked = 0
    for workload in manifests.workloads():
        spec = container(workload)
        model = MODELS[spec["name"]]
        for item in spec.get("env", []):
            if item["name"].startswith("DSA110_"):
                assert settings_field(model, item["name"]) is not None, (
                    f"{workload['metadata']['name']}: {item['name']} sets no field of "
                    f"{model.__name__}, so the service would silently ignore it"
                )
                checked += 1
    assert checked >= 1


def test_consumer_settings(
    manifests: Manifests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statefulset = manifests.one("StatefulSet")
    settings = load_pod_settings(statefulset, manifests, tmp_path, monkeypatch)
    assert isinstance(settings, ConsumerSettings)
    # Static membership: group.instance.id (and the transactional id) is the pod name.
    assert settings.static_membership is True
    assert settings.instance_id == pod_name(statefulset)
    assert settings.transactional_id.endswith(pod_name(statefulset))
    # Scratch on the output volume, so the final rename is atomic.
    output = mount_of(statefulset, PurePosixPath(settings.output_dir))
    assert settings.scratch_dir is not None
    scratch = mount_of(statefulset, PurePosixPath(settings.scratch_dir))
    assert scratch.mount == output.mount and scratch.volume == output.volume
    assert PurePosixPath(settings.scratch_dir) != PurePosixPath(settings.output_dir)
    assert not output.mount.get("readOnly", False)
    assert mount_of(statefulset, PurePosixPath(settings.data_root)).mount["readOnly"] is True
    # Kubernetes waits at least as long as the consumer's own shutdown grace.
    grace = pod_spec(statefulset)["terminationGracePeriodSeconds"]
    assert grace > settings.shutdown_grace_s
    _check_endpoints(statefulset, settings.observability.metrics_port)
    _check_memory(statefulset, settings.concurrency)


def test_producer_settings(
    manifests: Manifests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployments = manifests.of_kind("Deployment")
    assert deployments
    for deployment in deployments:
        settings = load_pod_settings(deployment, manifests, tmp_path, monkeypatch)
        assert isinstance(settings, ProducerSettings)
        incoming = mount_of(deployment, PurePosixPath(settings.input_dir))
        assert incoming.mount["readOnly"] is True
        assert settings.data_root == Path(incoming.mount["mountPath"])
        assert settings.input_dir.is_relative_to(settings.root)
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert grace > settings.shutdown_timeout_seconds
        # The hook Job creates the topics: the producer needs no admin rights.
        assert settings.create_topics is False
        _check_endpoints(deployment, settings.observability.metrics_port)


def test_consumer_and_producers_agree_on_the_data_root(
    manifests: Manifests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = load_pod_settings(manifests.one("StatefulSet"), manifests, tmp_path, monkeypatch)
    assert isinstance(consumer, ConsumerSettings)
    for deployment in manifests.of_kind("Deployment"):
        producer = load_pod_settings(deployment, manifests, tmp_path, monkeypatch)
        assert isinstance(producer, ProducerSettings)
        assert producer.root == consumer.data_root
        assert producer.topics == consumer.topics
        assert producer.kafka.client_config() == consumer.kafka.client_config()


def test_topics_job_settings(
    manifests: Manifests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = manifests.one("Job")
    settings = load_pod_settings(job, manifests, tmp_path, monkeypatch)
    assert isinstance(settings, TopicAdminSettings)
    producer = load_pod_settings(manifests.of_kind("Deployment")[0], manifests, tmp_path,
                                 monkeypatch)
    assert isinstance(producer, ProducerSettings)
    assert settings.layout == producer.layout
    assert settings.topics == producer.topics
    assert settings.layout.partitions == 12


def test_kafka_credentials_reach_the_client(
    render: Render, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = render(EVERYTHING_ON)
    kafka = EVERYTHING_ON["kafka"]
    for workload in manifests.workloads():
        settings = load_pod_settings(workload, manifests, tmp_path, monkeypatch)
        config = settings.kafka.client_config()
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.username"] == kafka["saslUsername"]
        assert config["sasl.password"] == kafka["saslPassword"]
        # The CA file is a key of a mounted Secret that holds the PEM.
        ca_path = PurePosixPath(config["ssl.ca.location"])
        found = mount_of(workload, ca_path)
        secret_volume = found.volume["secret"]
        item = next(i for i in secret_volume["items"] if i["path"] == ca_path.name)
        secret = manifests.one("Secret", secret_volume["secretName"])
        assert secret["stringData"][item["key"]] == kafka["tlsCa"]
    # The password never lands in a ConfigMap.
    for config_map in manifests.of_kind("ConfigMap"):
        assert kafka["saslPassword"] not in str(config_map["data"])


def _check_endpoints(workload: dict[str, Any], metrics_port: int | None) -> None:
    ports = {p["name"]: p["containerPort"] for p in container(workload)["ports"]}
    assert metrics_port is not None, "without metrics_port the health endpoints are off"
    assert ports["metrics"] == metrics_port


def _check_memory(statefulset: dict[str, Any], workers: int) -> None:
    limit = container(statefulset)["resources"]["limits"]["memory"]
    units = {"Mi": 1, "Gi": 1024}
    mib = int(limit[:-2]) * units[limit[-2:]]
    assert mib >= 2048 * workers + 512, f"{limit} for {workers} conversion(s) of ~2 GiB"
