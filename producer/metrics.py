"""The producer's Prometheus metrics (served on ``/metrics`` by dsa110_stream.endpoints)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

#: Delivery latencies range from milliseconds (healthy broker) to minutes (outage).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


@dataclass(frozen=True)
class ProducerMetrics:
    files_seen: Counter
    files_published: Counter
    files_rejected: Counter
    publish_latency: Histogram
    last_publish: Gauge
    bootstrap_total: Gauge
    bootstrap_done: Gauge
    pending_files: Gauge
    awaiting_delivery: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> ProducerMetrics:
        """Register the metrics on ``registry`` (tests pass a fresh one per producer)."""
        prefix = "dsa110_producer"
        return cls(
            files_seen=Counter(
                f"{prefix}_files_seen", "Distinct candidate files seen in the ingest directory.",
                registry=registry,
            ),
            files_published=Counter(
                f"{prefix}_files_published",
                "Files whose SubbandFile event the broker confirmed.", registry=registry,
            ),
            files_rejected=Counter(
                f"{prefix}_files_rejected",
                "Files dead-lettered, by reason (confirmed by the broker).", ["reason"],
                registry=registry,
            ),
            publish_latency=Histogram(
                f"{prefix}_publish_latency_seconds",
                "Time from handing an event to the Kafka client to the broker's confirmation.",
                buckets=_LATENCY_BUCKETS, registry=registry,
            ),
            last_publish=Gauge(
                f"{prefix}_last_publish_timestamp_seconds",
                "Unix time of the last confirmed SubbandFile event.", registry=registry,
            ),
            bootstrap_total=Gauge(
                f"{prefix}_bootstrap_files_total",
                "Files found in the directory at start-up that were not yet published.",
                registry=registry,
            ),
            bootstrap_done=Gauge(
                f"{prefix}_bootstrap_files_done",
                "Start-up files settled so far (published, rejected or gone).",
                registry=registry,
            ),
            pending_files=Gauge(
                f"{prefix}_pending_files",
                "Candidate files waiting to be complete.", registry=registry,
            ),
            awaiting_delivery=Gauge(
                f"{prefix}_awaiting_delivery",
                "Events handed to the Kafka client and not yet confirmed.", registry=registry,
            ),
        )
