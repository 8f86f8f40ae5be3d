"""Settings of the ``produce`` command (on top of the shared Kafka, topic and logging ones).

Environment variables use the ``DSA110_`` prefix, e.g. ``DSA110_INPUT_DIR=/data/incoming``
or ``DSA110_STABLE_SECONDS=30``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from dsa110_stream.settings import ServiceSettings
from schemas.topics import TopicLayout


class ProducerSettings(ServiceSettings):
    """One producer watches one ingest directory (DESIGN.md, Producer)."""

    input_dir: Path = Field(
        description="Ingest directory the correlator writes subband files into (not recursive)."
    )
    data_root: Path | None = Field(
        None,
        description="Root of the volume shared with the consumers; events carry paths relative "
        "to it, and files (after following symlinks) must lie inside it. Default: input_dir.",
    )
    watch_mode: Literal["inotify", "poll"] = Field(
        "inotify",
        description="'inotify': react to close-after-write and rename-into events (Linux, local "
        "file systems); 'poll': scan the directory every poll_seconds (NFS and other file "
        "systems without inotify).",
    )
    poll_seconds: float = Field(
        5.0, gt=0, description="Directory scan interval in poll mode."
    )
    rescan_seconds: float = Field(
        300.0,
        gt=0,
        description="Safety-net directory scan interval in inotify mode (inotify can drop "
        "events when its queue overflows).",
    )
    stable_seconds: float = Field(
        30.0,
        ge=0,
        description="A file not closed under our eyes counts as complete only once its size and "
        "mtime have not changed for this long. Must exceed the correlator's integration time "
        "(12.9 s): its writer keeps the header self-consistent after every integration.",
    )
    corrupt_after_seconds: float = Field(
        900.0,
        ge=0,
        description="A file whose header is unreadable or inconsistent is dead-lettered as "
        "CORRUPT_FILE once it has not been modified for this long (until then it may still be "
        "being written). Longer than one dump (309 s).",
    )
    history_lookback_hours: float = Field(
        48.0,
        ge=0,
        description="At start-up the producer rebuilds its state from the topics, reading "
        "events from this long before the oldest file in the directory (or before now if "
        "that is earlier). Files arriving later than this after their dump are grouped anew.",
    )
    bootstrap: bool = Field(
        True, description="Publish the files already in the directory at start-up (oldest first)."
    )
    tolerance_seconds: float = Field(
        150.0,
        gt=0,
        description="Half-width of the grouping window around a dump's anchor (DOMAIN.md §1).",
    )
    max_future_seconds: float = Field(
        3000.0,
        ge=0,
        description="Files whose filename time is further than this in the future are "
        "dead-lettered as OUT_OF_RANGE (brokers reject message timestamps more than "
        "message.timestamp.after.max.ms, 1 h by default, ahead of their clock).",
    )
    create_topics: bool = Field(
        True, description="Create the topics at start-up if they do not exist."
    )
    layout: TopicLayout = Field(
        default_factory=TopicLayout,  # type: ignore[arg-type]
        description="Partitions and replication of the topics, used when create_topics "
        "creates them (same as the `topics` command's layout).",
    )
    header_workers: int = Field(
        0,
        ge=0,
        description="Worker processes that read HDF5 headers when many files are due at once "
        "(bootstrap), to overlap the disk reads of a cold backlog on a many-core host. 0 "
        "(default): read in the main process, which was faster on a warm cache "
        "(docs/producer.md).",
    )
    shutdown_timeout_seconds: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long to wait for the broker to confirm events "
        "already handed to the Kafka client before exiting.",
    )
    linger_ms: int = Field(
        50, ge=0, description="librdkafka linger.ms: batching delay for events."
    )

    @model_validator(mode="after")
    def _resolve_paths(self) -> ProducerSettings:
        self.input_dir = self.input_dir.expanduser().absolute()
        root = self.data_root if self.data_root is not None else self.input_dir
        self.data_root = root.expanduser().absolute()
        return self

    @property
    def root(self) -> Path:
        """The data root (always set after validation)."""
        assert self.data_root is not None
        return self.data_root

    @property
    def tolerance(self) -> timedelta:
        return timedelta(seconds=self.tolerance_seconds)

    @property
    def history_lookback(self) -> timedelta:
        return timedelta(hours=self.history_lookback_hours)
