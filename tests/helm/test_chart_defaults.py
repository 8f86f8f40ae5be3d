"""What ``helm template`` renders with the default values, checked object by object."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from tests.helm.conftest import CHART, Manifests, Render
from tests.helm.pods import container, mount_of, pod_spec

FULLNAME = "dsa-dsa110-stream"
HOOK_EVENTS = {"pre-install", "pre-upgrade"}


@pytest.fixture
def defaults(render: Render) -> Manifests:
    return render()


def default_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def test_default_objects(defaults: Manifests) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in defaults.objects)
    assert kinds == [
        ("ConfigMap", f"{FULLNAME}-config"),
        ("ConfigMap", f"{FULLNAME}-topics"),
        ("Deployment", f"{FULLNAME}-producer-main"),
        ("Job", f"{FULLNAME}-topics"),
        ("PodDisruptionBudget", f"{FULLNAME}-consumer"),
        ("Secret", f"{FULLNAME}-kafka"),
        ("Service", f"{FULLNAME}-consumer"),
        ("Service", f"{FULLNAME}-producer"),
        ("StatefulSet", f"{FULLNAME}-consumer"),
    ]


def test_producer_is_one_replica_recreated(defaults: Manifests) -> None:
    deployment = defaults.one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "Job"])
def test_pods_are_locked_down(defaults: Manifests, kind: str) -> None:
    workload = defaults.one(kind)
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    security = container(workload)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # With a read-only root, HOME and the caches (CASA, astropy) must be on a writable mount.
    env = {e["name"]: e.get("value") for e in container(workload)["env"]}
    for name in ("HOME", "XDG_CACHE_HOME"):
        mount = mount_of(workload, PurePosixPath(env[name]))
        assert not mount.mount.get("readOnly", False)
        assert "emptyDir" in mount.volume


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_probes_hit_health_endpoints_on_the_metrics_port(defaults: Manifests, kind: str) -> None:
    spec = container(defaults.one(kind))
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert ports == {"metrics": default_values()["observability"]["metricsPort"]}
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        assert spec[probe]["httpGet"] == {"path": path, "port": "metrics"}, probe


def test_incoming_is_read_only_and_output_writable(defaults: Manifests) -> None:
    values = default_values()["storage"]
    incoming = PurePosixPath(values["incoming"]["mountPath"])
    output = PurePosixPath(values["output"]["mountPath"])
    producer, consumer = defaults.one("Deployment"), defaults.one("StatefulSet")
    for workload in (producer, consumer):
        assert mount_of(workload, incoming).mount["readOnly"] is True
    assert not mount_of(consumer, output).mount.get("readOnly", False)
    producer_mounts = {m["mountPath"] for m in container(producer)["volumeMounts"]}
    assert str(output) not in producer_mounts, "the producer never writes MSs"


def test_consumer_memory_fits_its_workers(defaults: Manifests) -> None:
    values = default_values()["consumer"]
    resources = container(defaults.one("StatefulSet"))["resources"]
    limit = resources["limits"]["memory"]
    assert limit.endswith("Mi")
    expected_mib = 1024 * (values["workers"] * values["memoryPerWorkerGiB"]
                           + values["memoryOverheadGiB"])
    assert int(limit.removesuffix("Mi")) == expected_mib
    assert resources["requests"]["memory"] == limit, "requests = limits: no overcommit OOM"


def test_pdb_selects_the_consumer_pods(defaults: Manifests) -> None:
    pdb = defaults.one("PodDisruptionBudget")
    consumer_labels = defaults.one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector.items() <= consumer_labels.items()
    producer_labels = defaults.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= producer_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_statefulset_has_its_headless_service(defaults: Manifests) -> None:
    statefulset = defaults.one("StatefulSet")
    service = defaults.one("Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert statefulset["spec"]["replicas"] == default_values()["consumer"]["replicas"]


def test_topics_job_is_a_pre_install_and_pre_upgrade_hook(defaults: Manifests) -> None:
    job = defaults.one("Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == HOOK_EVENTS
    assert container(job)["args"][:2] == ["topics", "create"]
    # Hooks run before the release's objects exist: its settings come from a hook too,
    # created first (lower weight).
    config_name = pod_spec(job)["volumes"][0]["configMap"]["name"]
    config = defaults.one("ConfigMap", config_name)
    config_annotations = config["metadata"]["annotations"]
    assert set(config_annotations["helm.sh/hook"].split(",")) == HOOK_EVENTS
    assert int(config_annotations["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_default_secret_holds_nothing(defaults: Manifests) -> None:
    secret = defaults.one("Secret")
    assert not secret.get("stringData") and not secret.get("data")
    for workload in defaults.workloads():
        names = {e["name"] for e in container(workload)["env"]}
        assert "DSA110_KAFKA__SASL_PASSWORD" not in names
