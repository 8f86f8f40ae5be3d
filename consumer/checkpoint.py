"""Finishing groups: produce their events and commit the consumer's offsets.

Exactly-once (the default) follows confluent-kafka-python's ``examples/eos-transactions.py``:
one transactional producer per consumer process; finishing = ``begin_transaction`` →
produce the MS-ready / dead-letter events → ``send_offsets_to_transaction`` (committable
offsets, the consumer's group metadata) → ``commit_transaction``. A read_committed reader
sees the events exactly when the offsets are committed. A zombie (an instance that lost
its partitions without noticing) is fenced: the group coordinator refuses its offsets
(stale generation) and the transaction aborts; a second process with the same
transactional id fences the first for good (:class:`ProducerFenced`, the process exits).

At-least-once (``exactly_once=False``): produce, flush, then commit synchronously. A
crash between the two leaves the event without the commit; the record of finished
groups still prevents a second event after the restart, but zombies are not fenced.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from consumer.crashpoints import CrashPoints
from consumer.outputs import OutputEvent

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    from schemas.codec import EventCodec

log = structlog.get_logger(__name__)

#: Pause between retries of a retriable transactional call (e.g. a coordinator moving).
RETRY_PAUSE_S = 0.2


class FinishAborted(RuntimeError):
    """Nothing was emitted or committed (the transaction aborted); try again later."""


class ProducerFenced(RuntimeError):
    """This process may no longer write (another instance took over, or a fatal error)."""


class Checkpointer(Protocol):
    """Emits finish events together with (or followed by) an offset commit."""

    def finish(self, events: Sequence[OutputEvent], offsets: Sequence[TopicPartition]) -> None:
        """Emit ``events`` and commit ``offsets``; raise FinishAborted if nothing happened."""

    def close(self) -> None: ...


def _encode(codec: EventCodec, event: OutputEvent) -> bytes:
    return codec.encode(event.schema_name, event.record)


def _output_producer_config(client_config: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The producer of MS-ready and dead-letter events, in either checkpointing mode."""
    return {
        **client_config,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # Same partitioner as the Java clients, so keys map alike everywhere.
        "partitioner": "murmur2_random",
        **extra,
    }


class TransactionalCheckpointer:
    """Events and offsets in one Kafka transaction."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        transactional_id: str,
        transaction_timeout_s: float,
        consumer: Consumer,
        codec: EventCodec,
        crash: CrashPoints,
        timeout_s: float = 60.0,
    ) -> None:
        from confluent_kafka import Producer

        self._consumer = consumer
        self._crash = crash
        self._timeout_s = timeout_s
        self._codec = codec
        self._producer = Producer(
            _output_producer_config(
                client_config,
                **{
                    "transactional.id": transactional_id,
                    "transaction.timeout.ms": int(transaction_timeout_s * 1000),
                },
            )
        )
        # Fences an earlier incarnation with the same id and aborts its open transaction.
        self._retry(lambda: self._producer.init_transactions(timeout_s), "init_transactions")

    def finish(self, events: Sequence[OutputEvent], offsets: Sequence[TopicPartition]) -> None:
        payloads = [(event, _encode(self._codec, event)) for event in events]
        try:
            self._retry(self._producer.begin_transaction, "begin_transaction")
        except _Abortable as exc:
            raise FinishAborted(str(exc)) from exc
        try:
            for event, payload in payloads:
                self._produce(event, payload)
            if payloads:
                self._crash.reached("after_produce")
            if offsets:
                metadata = self._consumer.consumer_group_metadata()
                self._retry(
                    lambda: self._producer.send_offsets_to_transaction(
                        list(offsets), metadata, self._timeout_s
                    ),
                    "send_offsets_to_transaction",
                )
            self._crash.reached("after_send_offsets")
            self._crash.reached("before_commit")
            self._retry(
                lambda: self._producer.commit_transaction(self._timeout_s), "commit_transaction"
            )
        except _Abortable as exc:
            self._abort()
            raise FinishAborted(str(exc)) from exc
        self._crash.reached("after_commit")

    def _produce(self, event: OutputEvent, payload: bytes) -> None:
        while True:
            try:
                self._producer.produce(
                    event.topic,
                    value=payload,
                    key=event.key,
                    headers=list(event.headers),
                    timestamp=event.timestamp_ms or 0,
                )
                return
            except BufferError:
                self._producer.poll(0.1)

    def _retry(self, call: Any, what: str) -> None:
        """Run a transactional call, retrying retriable errors, classifying the others."""
        from confluent_kafka import KafkaException

        while True:
            try:
                call()
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.retriable():
                    log.warning("retrying transactional call", call=what, error=str(error))
                    time.sleep(RETRY_PAUSE_S)
                    continue
                if error.txn_requires_abort():
                    raise _Abortable(f"{what}: {error}") from exc
                raise ProducerFenced(_fatal_message(what, error)) from exc

    def _abort(self) -> None:
        from confluent_kafka import KafkaException

        try:
            self._producer.abort_transaction(self._timeout_s)
        except KafkaException as exc:
            raise ProducerFenced(_fatal_message("abort_transaction", exc.args[0])) from exc
        log.warning("transaction aborted; the groups in it stay open and are finished later")

    def close(self) -> None:
        self._producer.flush(self._timeout_s)


class _Abortable(Exception):
    """The current transaction must be aborted (e.g. a rebalance changed the generation)."""


def _fatal_message(what: str, error: Any) -> str:
    return (
        f"{what} failed fatally: {error}. If another consumer uses the same transactional id, "
        "give each instance a distinct --instance-id; this process stops so that it cannot "
        "emit events as a zombie"
    )


class AtLeastOnceCheckpointer:
    """Produce and flush, then commit offsets synchronously (exactly_once=False)."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        consumer: Consumer,
        codec: EventCodec,
        crash: CrashPoints,
        timeout_s: float = 60.0,
    ) -> None:
        from confluent_kafka import Producer

        self._consumer = consumer
        self._crash = crash
        self._timeout_s = timeout_s
        self._codec = codec
        self._producer = Producer(_output_producer_config(client_config))

    def finish(self, events: Sequence[OutputEvent], offsets: Sequence[TopicPartition]) -> None:
        from confluent_kafka import KafkaException

        errors: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                errors.append(str(error))

        for event in events:
            self._producer.produce(
                event.topic,
                value=_encode(self._codec, event),
                key=event.key,
                headers=list(event.headers),
                timestamp=event.timestamp_ms or 0,
                on_delivery=delivered,
            )
        if events:
            remaining = self._producer.flush(self._timeout_s)
            if errors or remaining:
                raise FinishAborted(
                    f"events not delivered ({remaining} still queued): {'; '.join(errors)}"
                )
            self._crash.reached("after_produce")
        self._crash.reached("before_commit")
        if offsets:
            try:
                self._consumer.commit(offsets=list(offsets), asynchronous=False)
            except KafkaException as exc:
                # The events are out: the groups are finished whatever happens to this
                # commit; the offsets are committed again at the next opportunity.
                log.warning("offset commit failed; will retry", error=str(exc))
        self._crash.reached("after_commit")

    def close(self) -> None:
        self._producer.flush(self._timeout_s)
