"""Optional objects (ServiceMonitor, KEDA, several producers) and values the chart refuses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helm.conftest import Manifests, Render, RenderError
from tests.helm.pods import container
from tests.helm.values_examples import EVERYTHING_ON, EXISTING_SECRET


@pytest.fixture
def everything(render: Render) -> Manifests:
    return render(EVERYTHING_ON)


def test_one_recreated_deployment_per_ingest_directory(everything: Manifests) -> None:
    instances = EVERYTHING_ON["producer"]["instances"]
    deployments = everything.of_kind("Deployment")
    assert len(deployments) == len(instances)
    watched = []
    for deployment in deployments:
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        args = container(deployment)["args"]
        watched.append(args[args.index("--input-dir") + 1])
    assert sorted(watched) == sorted(i["inputDir"] for i in instances)
    # Distinct selectors: no Deployment adopts another one's pod.
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in deployments]
    assert len(set(selectors)) == len(selectors)


def test_per_instance_settings_reach_only_that_instance(everything: Manifests) -> None:
    data = everything.one("ConfigMap", "dsa-dsa110-stream-config")["data"]
    assert "watch_mode: poll" in data["producer-corr01.yaml"]
    assert "watch_mode" not in data["producer-corr00.yaml"]
    assert all("stable_seconds: 45" in data[f"producer-{n}.yaml"] for n in ("corr00", "corr01"))


def test_service_monitor_scrapes_producers_and_consumers(everything: Manifests) -> None:
    monitor = everything.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    selector = monitor["spec"]["selector"]
    components = set(selector["matchExpressions"][0]["values"])
    selected = [
        s
        for s in everything.of_kind("Service")
        if selector["matchLabels"].items() <= s["metadata"]["labels"].items()
        and s["metadata"]["labels"]["app.kubernetes.io/component"] in components
    ]
    assert {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in selected} == {
        "producer",
        "consumer",
    }
    for service in selected:
        assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]


def test_keda_scales_the_statefulset_on_the_group_lag(everything: Manifests) -> None:
    scaled = everything.one("ScaledObject")
    statefulset = everything.one("StatefulSet")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", statefulset["metadata"]["name"])
    assert "replicas" not in statefulset["spec"], "KEDA owns the replica count"
    assert scaled["spec"]["maxReplicaCount"] == EVERYTHING_ON["keda"]["maxReplicas"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    consumer_config = everything.one("ConfigMap", "dsa-dsa110-stream-config")["data"]
    assert f"group_id: {trigger['metadata']['consumerGroup']}" in consumer_config["consumer.yaml"]
    assert trigger["metadata"]["topic"] == "dsa110.subbands.v1"
    assert trigger["metadata"]["sasl"] == "scram_sha512"
    assert trigger["metadata"]["tls"] == "enable"
    auth = everything.one("TriggerAuthentication", trigger["authenticationRef"]["name"])
    secret = everything.one("Secret", "dsa-dsa110-stream-kafka")
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"password", "ca"}
    for ref in refs.values():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    env_names = {e["name"] for e in container(statefulset)["env"]}
    assert auth["spec"]["env"][0]["name"] in env_names


def test_existing_secret_is_referenced_not_created(render: Render) -> None:
    manifests = render(EXISTING_SECRET)
    assert manifests.of_kind("Secret") == []
    for workload in manifests.workloads():
        refs = [
            e["valueFrom"]["secretKeyRef"]
            for e in container(workload)["env"]
            if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
        ]
        assert refs == [{"name": "kafka-credentials", "key": "password"}]
        tls = next(v for v in workload["spec"]["template"]["spec"]["volumes"]
                   if v["name"] == "kafka-tls")
        assert tls["secret"]["secretName"] == "kafka-credentials"
        assert tls["secret"]["items"][0]["key"] == "ca.pem"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"consumer": {"replicas": -1}}, "/consumer/replicas"),
        ({"consumer": {"replicas": "two"}}, "/consumer/replicas"),
        ({"consumer": {"workers": 0}}, "/consumer/workers"),
        ({"consumer": {"replica": 3}}, "additional properties 'replica'"),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
        ({"observability": {"metricsPort": 70000}}, "/observability/metricsPort"),
        ({"producer": {"instances": [{"name": "Corr_0", "inputDir": "/data/incoming"}]}},
         "/producer/instances/0/name"),
        ({"producer": {"instances": [{"name": "a", "inputDir": "relative"}]}},
         "/producer/instances/0/inputDir"),
        ({"keda": {"enabled": "yes"}}, "/keda/enabled"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_schema_rejects(render_error: RenderError, values: dict[str, Any], message: str) -> None:
    stderr = render_error(values)
    assert "schema" in stderr and message in stderr, stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"consumer": {"scratchDir": "/scratch"}}, "within one filesystem"),
        ({"consumer": {"terminationGracePeriodSeconds": 10}}, "shorter than"),
        ({"producer": {"terminationGracePeriodSeconds": 5}}, "shorter than"),
        ({"producer": {"instances": [{"name": "a", "inputDir": "/elsewhere"}]}},
         "must lie inside storage.incoming.mountPath"),
        ({"producer": {"instances": [{"name": "a", "inputDir": "/data/incoming/x"},
                                     {"name": "b", "inputDir": "/data/incoming/x"}]}},
         "one producer per directory"),
        ({"producer": {"instances": [{"name": "a", "inputDir": "/data/incoming/x"},
                                     {"name": "a", "inputDir": "/data/incoming/y"}]}},
         "appears twice"),
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "needs kafka.saslMechanism"),
        ({"keda": {"enabled": True},
          "kafka": {"securityProtocol": "SASL_PLAINTEXT", "saslMechanism": "GSSAPI",
                    "saslUsername": "u", "saslPassword": "p"}},
         "SASL mechanisms"),
    ],
)
def test_chart_refuses_unsafe_values(
    render_error: RenderError, values: dict[str, Any], message: str
) -> None:
    assert message in render_error(values)
