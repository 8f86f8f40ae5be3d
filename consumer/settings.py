"""Settings of ``dsa110-stream consume``: the consumer group, where files are, and the policy.

Every field is documented here and in ``docs/consumer.md``. Environment variables use the
prefix ``DSA110_`` (for example ``DSA110_MIN_SUBBANDS=14``); nested Kafka and topic
settings use ``__`` (``DSA110_KAFKA__BOOTSTRAP_SERVERS``).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from converter.grouping import parse_group_id
from converter.telescope import DUMP_SECONDS
from dsa110_stream.settings import ServiceSettings


class ConsumerSettings(ServiceSettings):
    """Everything the consumer needs; the defaults suit production."""

    group_id: str = Field(
        "dsa110-consumer",
        description="Kafka consumer group. Every pod of one deployment uses the same group; "
        "a separate group (e.g. for a replay into another output directory) sees every event "
        "again.",
    )
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="Stable name of this consumer instance (default: the host name, i.e. the "
        "pod name). It makes the transactional id, so a restarted instance fences and aborts "
        "its predecessor's open transaction at once. Two instances running at the same time "
        "must have different ids.",
    )
    static_membership: bool = Field(
        False,
        description="Use instance_id as group.instance.id (KIP-345 static membership): a pod "
        "restarted within the session timeout gets its partitions back without a rebalance. "
        "Needs unique, stable pod names (a StatefulSet).",
    )
    data_root: Path = Field(
        Path("/data/incoming"),
        description="This consumer's mount of the ingest volume; each event's relative_path is "
        "resolved under it. Paths that escape it or do not exist are dead-lettered, never read.",
    )
    output_dir: Path = Field(
        Path("/data/ms"), description="Where finished Measurement Sets go: <group_id>.ms."
    )
    scratch_dir: Path | None = Field(
        None,
        description="Where MSs are written before the atomic rename; must be on the same "
        "filesystem as output_dir. None: the converter's default (a sibling of output_dir).",
    )
    antenna_positions: Path | None = Field(
        None,
        description="Station coordinates table overriding the (possibly stale) antenna "
        "positions in the files; None keeps the files' positions.",
    )
    imaging_columns: bool = Field(
        False, description="Also write MODEL_DATA and CORRECTED_DATA (doubles the MS size)."
    )
    expected_subbands: int = Field(
        16, ge=1, le=16, description="Subbands 0..N-1 make a complete group."
    )
    min_subbands: int = Field(
        12,
        ge=1,
        le=16,
        description="A group closed by a timeout is converted (missing channels flagged) if "
        "it has at least this many subbands, else dead-lettered as INCOMPLETE_GROUP.",
    )
    group_timeout_s: float = Field(
        900.0,
        gt=0,
        description="Close an incomplete group this many wall-clock seconds after its first "
        "event was read (about three dumps), not counting time when reading was paused "
        "because every worker was busy. Restarts the count after a consumer restart.",
    )
    observation_horizon_s: float = Field(
        round(2.5 * DUMP_SECONDS),
        gt=0,
        description="Also close an incomplete group once the partition has seen a group "
        "whose observation time is this much later. The default, 2.5 dumps (773 s), falls "
        "between the anchors of the next-but-one dump (~618 s, ±10 s jitter) and the one "
        "after (~928 s), so it closes a group when the third dump after it shows up, "
        "deterministically. A backlog replay thus closes groups at stream speed, not "
        "wall-clock speed.",
    )
    concurrency: int = Field(
        1, ge=1, description="Conversions running at the same time (worker processes)."
    )
    max_attempts: int = Field(
        3, ge=1, description="Conversion attempts for transient errors before dead-lettering."
    )
    backoff_base_s: float = Field(
        5.0, ge=0, description="Delay before the second attempt; doubles for each further one."
    )
    backoff_max_s: float = Field(300.0, ge=0, description="Upper bound of the retry delay.")
    exactly_once: bool = Field(
        True,
        description="Produce each MS-ready/dead-letter event and the offset commit in one "
        "Kafka transaction (fences zombie owners). Off: produce, flush, then commit.",
    )
    transactional_id_prefix: str = Field(
        "dsa110-consumer-", description="transactional.id = prefix + instance_id."
    )
    transaction_timeout_s: float = Field(
        30.0,
        gt=0,
        description="transaction.timeout.ms: how long an open transaction of a crashed "
        "instance may block read_committed readers before the broker aborts it.",
    )
    session_timeout_s: float = Field(
        45.0,
        ge=6,
        description="session.timeout.ms: how soon a crashed instance's partitions move to "
        "another instance.",
    )
    finished_lookback_s: float = Field(
        86400.0,
        gt=0,
        description="The record of finished groups is read from the ms-ready and dead-letter "
        "topics from this long before the oldest observation time being consumed (extended "
        "further back on demand).",
    )
    finished_read_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Give up (and exit non-zero) if the record of finished groups cannot be "
        "read within this time; converting without it could emit a group twice.",
    )
    force: bool = Field(
        False,
        description="Reconvert and re-emit (revision + 1) groups that were finished before "
        "this process started. Meant for bounded replays.",
    )
    force_until: datetime | None = Field(
        None,
        description="With force: reconvert only groups observed up to this time (group id ≤ "
        "it; UTC when no offset is given). Finished groups after it are skipped as usual, so "
        "a forced replay of an old window reconverts that window and nothing newer.",
    )
    shutdown_grace_s: float = Field(
        60.0,
        ge=0,
        description="On SIGTERM, wait this long for running conversions before abandoning "
        "them (an abandoned group is redone by the next owner).",
    )
    commit_interval_s: float = Field(
        5.0,
        gt=0,
        description="Commit offsets that advanced without finishing a group (skipped "
        "re-reads) at most this often.",
    )
    poll_timeout_s: float = Field(
        0.2, gt=0, description="Longest wait of one poll; bounds the loop's reaction time."
    )
    liveness_timeout_s: float = Field(
        120.0,
        gt=0,
        description="/healthz fails when the loop has not completed an iteration for this long.",
    )
    ready_max_lag: int = Field(
        64,
        ge=0,
        description="/readyz succeeds when partitions are assigned and the summed lag is at "
        "most this many events (four groups).",
    )

    @model_validator(mode="after")
    def _check_policy(self) -> ConsumerSettings:
        if self.min_subbands > self.expected_subbands:
            raise ValueError(
                f"min_subbands ({self.min_subbands}) exceeds expected_subbands "
                f"({self.expected_subbands})"
            )
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be at least backoff_base_s")
        if self.force_until is not None and not self.force:
            raise ValueError("force_until bounds a forced run: set force as well (--force)")
        return self

    @field_validator("force_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time without an offset is UTC (never the host's zone)."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def forces(self, group_id: str) -> bool:
        """Whether this run reconverts ``group_id`` even if it was finished before."""
        if not self.force:
            return False
        return self.force_until is None or parse_group_id(group_id) <= self.force_until

    @property
    def transactional_id(self) -> str:
        """The producer's transactional.id (stable across restarts of this instance)."""
        return f"{self.transactional_id_prefix}{self.instance_id}"
