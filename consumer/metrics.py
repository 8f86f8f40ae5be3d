"""Prometheus metrics of the consumer (served on /metrics by ``dsa110_stream.endpoints``)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

#: Conversion stages take from well under a second (tiny test dumps) to minutes.
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 300, 600)


class ConsumerMetrics:
    """Every metric the consumer exports, registered on one registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.lag = Gauge(
            "dsa110_consumer_lag_events",
            "Events not yet read: high watermark minus position, per partition.",
            ["partition"],
            registry=registry,
        )
        self.open_groups = Gauge(
            "dsa110_consumer_open_groups",
            "Groups read but not finished, per partition (collecting, queued or converting).",
            ["partition"],
            registry=registry,
        )
        self.events = Counter(
            "dsa110_consumer_events_total",
            "Input events read, by what became of them (add, finished, duplicate, late, ...).",
            ["verdict"],
            registry=registry,
        )
        self.groups_finished = Counter(
            "dsa110_consumer_groups_finished_total",
            "Groups finished, by outcome: complete, partial (missing subbands flagged), "
            "incomplete (dead-lettered), failed (conversion failed).",
            ["outcome"],
            registry=registry,
        )
        self.conversions = Counter(
            "dsa110_consumer_conversions_total",
            "Conversion attempts by result: converted, reused (existing MS with a matching "
            "manifest), transient_error, permanent_error.",
            ["result"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "dsa110_consumer_dead_letters_total",
            "Dead letters committed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.conversion_seconds = Histogram(
            "dsa110_consumer_conversion_seconds",
            "Wall-clock seconds per conversion stage, as measured by the converter.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            "dsa110_consumer_last_success_timestamp_seconds",
            "Unix time of the last MS-ready event committed.",
            registry=registry,
        )
        self.transactions_aborted = Counter(
            "dsa110_consumer_transactions_aborted_total",
            "Finishing transactions that were aborted and retried.",
            registry=registry,
        )

    def forget_partition(self, partition: int) -> None:
        """Drop the per-partition series of a partition this instance no longer owns."""
        for gauge in (self.lag, self.open_groups):
            try:
                gauge.remove(str(partition))
            except KeyError:
                continue

    def observe_stages(self, stage_seconds: Mapping[str, float]) -> None:
        for stage, seconds in stage_seconds.items():
            self.conversion_seconds.labels(stage=stage).observe(seconds)
