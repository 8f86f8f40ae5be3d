"""Hand events to Kafka and learn, from delivery reports, which ones the broker has.

An idempotent producer (``enable.idempotence``, ``acks=all``) with no delivery timeout
(``message.timeout.ms=0``): while the broker is down, librdkafka keeps the events and
retries without duplicating them, and :meth:`Publisher.service` logs that it is waiting.
Events are sent asynchronously (no flush per event); a file counts as published only when
its delivery report arrives without error. The few errors that retrying cannot fix (a
record the broker refuses to store) are reported to the caller, which dead-letters the
file; any other failed delivery is sent again after a back-off, so nothing is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from producer.events import OutgoingEvent
from schemas.codec import EventCodec
from schemas.headers import event_headers

log = structlog.get_logger(__name__)

#: Delivery errors that sending the same record again cannot fix.
_PERMANENT = frozenset(
    {
        KafkaError.INVALID_RECORD,
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_TIMESTAMP,
    }
)
_RETRY_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
_WAITING_LOG_INTERVAL_S = 30.0


class PublisherFatalError(RuntimeError):
    """The Kafka client hit a fatal error (e.g. the idempotent producer was fenced): restart."""


@dataclass(frozen=True)
class DeliveryReport:
    """The broker's verdict on one event: ``error`` is None when it is stored."""

    topic: str
    event: OutgoingEvent
    error: str | None
    partition: int | None
    offset: int | None
    latency_seconds: float


DeliveryHandler = Callable[[DeliveryReport], None]


@dataclass
class _Pending:
    topic: str
    event: OutgoingEvent
    payload: bytes
    handler: DeliveryHandler
    sent_at: float
    attempts: int = 1


class Publisher:
    """Asynchronous, idempotent Kafka publishing with confirmed delivery."""

    def __init__(
        self, client_config: dict[str, Any], codec: EventCodec, *, linger_ms: int = 50
    ) -> None:
        config = {
            "client.id": "dsa110-producer",
            # Connection errors reach error_cb, which logs them rate-limited; librdkafka's
            # own log would repeat each one at every reconnect (client_overrides may raise it).
            "log_level": 2,
            **client_config,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": 0,  # never give up on an event while the broker is away
            "linger.ms": linger_ms,
            "compression.type": "lz4",
            "error_cb": self._on_client_error,
        }
        self._producer = Producer(config)
        self._codec = codec
        self._in_flight = 0
        self._retries: list[tuple[float, _Pending]] = []
        self._fatal: str | None = None
        self._last_delivery = time.monotonic()
        self._last_waiting_log = 0.0
        self._client_errors = _RateLimitedLog(_WAITING_LOG_INTERVAL_S)

    @property
    def outstanding(self) -> int:
        """Events handed over whose delivery is not yet confirmed (including re-sends)."""
        return self._in_flight + len(self._retries)

    @property
    def backlogged(self) -> bool:
        """True while events wait outside the client (its queue was full, or a re-send is
        due): callers should pause producing new events and call :meth:`service`."""
        return bool(self._retries)

    def send(self, topic: str, event: OutgoingEvent, handler: DeliveryHandler) -> None:
        """Queue ``event``; ``handler`` gets its delivery report later, from :meth:`service`.

        Never drops: when the client's local queue is full, the event waits here and is
        handed over by a later :meth:`service` call.
        """
        payload = self._codec.encode(event.schema_name, event.record)
        pending = _Pending(topic, event, payload, handler, sent_at=time.monotonic())
        if not self._produce(pending):
            self._retries.append((time.monotonic() + 0.1, pending))

    def _produce(self, pending: _Pending) -> bool:
        kwargs: dict[str, Any] = {
            "key": pending.event.key.encode() if pending.event.key is not None else None,
            "value": pending.payload,
            "headers": event_headers(pending.event.schema_name, pending.event.event_id),
            "on_delivery": lambda err, msg: self._on_delivery(pending, err, msg),
        }
        if pending.event.timestamp_ms is not None:
            kwargs["timestamp"] = pending.event.timestamp_ms
        try:
            self._producer.produce(pending.topic, **kwargs)
        except BufferError:
            return False
        self._in_flight += 1
        return True

    def service(self, timeout: float = 0.0) -> None:
        """Serve delivery reports and re-send failed events whose back-off has passed."""
        self._producer.poll(timeout)
        self._raise_if_fatal()
        now = time.monotonic()
        due = [item for item in self._retries if item[0] <= now]
        if due:
            self._retries = [item for item in self._retries if item[0] > now]
            for index, (_, pending) in enumerate(due):
                if not self._produce(pending):
                    self._retries.extend((now + 0.1, p) for _, p in due[index:])
                    break
        self._log_if_waiting(now)

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for every outstanding delivery; return how many remain."""
        deadline = time.monotonic() + timeout
        while self.outstanding and time.monotonic() < deadline:
            self.service(min(0.5, max(0.0, deadline - time.monotonic())))
            self._producer.flush(min(0.5, max(0.0, deadline - time.monotonic())))
        self._raise_if_fatal()
        return self.outstanding

    def _on_delivery(self, pending: _Pending, err: KafkaError | None, msg: Message) -> None:
        self._in_flight -= 1
        latency = time.monotonic() - pending.sent_at
        if err is None:
            self._last_delivery = time.monotonic()
            pending.handler(
                DeliveryReport(pending.topic, pending.event, None, msg.partition(), msg.offset(),
                               latency)
            )
            return
        if err.fatal():
            self._fatal = err.str()
            return
        if err.code() in _PERMANENT:
            log.error("broker refused event", topic=pending.topic, key=pending.event.key,
                      event_id=pending.event.event_id, error=err.str())
            pending.handler(DeliveryReport(pending.topic, pending.event, err.str(), None, None,
                                           latency))
            return
        backoff = _RETRY_BACKOFF_S[min(pending.attempts - 1, len(_RETRY_BACKOFF_S) - 1)]
        log.warning("delivery failed; sending again", topic=pending.topic, key=pending.event.key,
                    error=err.str(), attempt=pending.attempts, retry_in_s=backoff)
        pending.attempts += 1
        self._retries.append((time.monotonic() + backoff, pending))

    def _on_client_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err.str()
            log.error("fatal Kafka client error", error=err.str())
        else:
            # Broker unreachable, transport errors: librdkafka retries by itself.
            self._client_errors.warning(
                err.name(), "Kafka client error; retrying", error=err.str(), code=err.name()
            )

    def _log_if_waiting(self, now: float) -> None:
        if self.outstanding == 0:
            self._last_delivery = now
            return
        silent = now - self._last_delivery
        if silent >= _WAITING_LOG_INTERVAL_S and now - self._last_waiting_log >= (
            _WAITING_LOG_INTERVAL_S
        ):
            self._last_waiting_log = now
            log.warning("waiting for the broker to confirm events", outstanding=self.outstanding,
                        seconds_without_confirmation=round(silent))

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise PublisherFatalError(
                f"fatal Kafka producer error: {self._fatal}; restart the producer (it rebuilds "
                "its state from the topic and publishes what is missing)"
            )

    def close(self, timeout: float) -> int:
        """Flush and report how many events were not confirmed."""
        try:
            return self.flush(timeout)
        except KafkaException as exc:
            raise PublisherFatalError(str(exc)) from exc


class _RateLimitedLog:
    """Logs a recurring warning at most once per interval and key, with the repeat count."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._repeats: dict[str, int] = {}

    def warning(self, key: str, message: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self._interval) < self._interval:
            self._repeats[key] = self._repeats.get(key, 0) + 1
            return
        self._last[key] = now
        repeats = self._repeats.pop(key, 0)
        log.warning(message, **fields, **({"repeated": repeats} if repeats else {}))
