"""Values files the chart tests render (besides the defaults)."""

from __future__ import annotations

from typing import Any

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"

#: SASL over TLS with the chart's own Secret, two ingest directories, ServiceMonitor, KEDA.
EVERYTHING_ON: dict[str, Any] = {
    "kafka": {
        "bootstrapServers": "kafka-0.kafka:9093,kafka-1.kafka:9093",
        "securityProtocol": "SASL_SSL",
        "saslMechanism": "SCRAM-SHA-512",
        "saslUsername": "dsa110",
        "saslPassword": "not-a-real-password",
        "tlsCa": CA_PEM,
    },
    "producer": {
        "instances": [
            {"name": "corr00", "inputDir": "/data/incoming/corr00"},
            {
                "name": "corr01",
                "inputDir": "/data/incoming/corr01",
                "settings": {"watch_mode": "poll", "poll_seconds": 10},
            },
        ],
        "settings": {"stable_seconds": 45},
    },
    "consumer": {"workers": 2, "settings": {"min_subbands": 14}},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "keda": {"enabled": True, "maxReplicas": 6},
}

#: Credentials from a Secret the chart does not manage.
EXISTING_SECRET: dict[str, Any] = {
    "kafka": {
        "securityProtocol": "SASL_SSL",
        "saslMechanism": "PLAIN",
        "saslUsername": "dsa110",
        "existingSecret": "kafka-credentials",
        "existingSecretHasTlsCa": True,
        "secretKeys": {"saslPassword": "password", "tlsCa": "ca.pem"},
    },
    "keda": {"enabled": True},
}
