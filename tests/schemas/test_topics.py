"""Topic specs, idempotent creation, comparison, and the ``topics`` command."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from dsa110_stream.cli import main
from dsa110_stream.settings import TopicSettings
from schemas.topics import (
    DAY_MS,
    describe_topics,
    ensure_topics,
    topic_specs,
    wait_for_topics,
)
from tests.schemas.broker_helpers import created_topics, delete_topics


def test_specs_follow_the_retention_policy():
    subbands, ms_ready, dead_letter = topic_specs(TopicSettings())
    assert [s.name for s in (subbands, ms_ready, dead_letter)] == [
        "dsa110.subbands.v1",
        "dsa110.ms-ready.v1",
        "dsa110.dead-letter.v1",
    ]
    assert subbands.config["message.timestamp.type"] == "CreateTime"
    retention = int(subbands.config["retention.ms"])
    max_age = int(subbands.config["message.timestamp.before.max.ms"])
    # Every accepted subband event stays replayable for at least two weeks.
    assert retention - max_age >= 14 * DAY_MS
    assert ms_ready.config["cleanup.policy"] == "compact"
    assert "retention.ms" not in ms_ready.config
    assert dead_letter.config["message.timestamp.type"] == "LogAppendTime"
    assert all(s.partitions == 12 and s.replication_factor == 3 for s in (subbands, ms_ready))
    assert {s.config["min.insync.replicas"] for s in (subbands, ms_ready, dead_letter)} == {"2"}


@pytest.mark.parametrize(("replicas", "min_isr"), [(1, "1"), (2, "1"), (3, "2"), (5, "2")])
def test_min_insync_replicas_default(replicas, min_isr):
    spec = topic_specs(TopicSettings(), replication_factor=replicas)[0]
    assert spec.config["min.insync.replicas"] == min_isr


def test_impossible_layouts_are_refused():
    with pytest.raises(ValueError, match="exceeds"):
        topic_specs(TopicSettings(), replication_factor=1, min_insync_replicas=2)
    with pytest.raises(ValueError, match="at least 1"):
        topic_specs(TopicSettings(), partitions=0)


@pytest.mark.broker
def test_ensure_topics_is_idempotent(kafka_bootstrap, topic_settings):
    admin_config = {"bootstrap.servers": kafka_bootstrap}
    with created_topics(kafka_bootstrap, topic_settings, partitions=2) as first:
        assert [s.created for s in first] == [True, True, True]
        assert all(s.exists and s.differences == () for s in first)
        assert {s.partitions for s in first} == {2}
        again = ensure_topics(admin_config, topic_settings, partitions=2, replication_factor=1)
        assert [s.created for s in again] == [False, False, False]
        assert all(s.differences == () for s in again)
        assert again[0].config["retention.ms"] == str(30 * DAY_MS)


@pytest.mark.broker
def test_existing_topic_that_differs_is_reported_and_configs_can_be_aligned(
    kafka_bootstrap, topic_settings
):
    admin_config = {"bootstrap.servers": kafka_bootstrap}
    admin = AdminClient(admin_config)
    futures = admin.create_topics(
        [NewTopic(topic_settings.subbands, 3, 1, config={"retention.ms": str(DAY_MS)})]
    )
    futures[topic_settings.subbands].result()
    wait_for_topics(admin_config, [topic_settings.subbands])
    try:
        specs = topic_specs(topic_settings, partitions=1, replication_factor=1)
        before = describe_topics(admin_config, specs)
        assert [s.exists for s in before] == [True, False, False]
        assert "missing" in before[1].differences
        differences = before[0].differences
        assert "partitions: want 1, have 3" in differences
        assert f"retention.ms: want {30 * DAY_MS}, have {DAY_MS}" in differences
        assert not any(d.startswith("cleanup.policy") for d in differences)

        statuses = ensure_topics(admin_config, topic_settings, 1, 1, alter_configs=True)
        subbands = statuses[0]
        assert not subbands.created and "retention.ms" in subbands.altered
        # Configs aligned; the partition count is never changed automatically.
        assert subbands.differences == ("partitions: want 1, have 3",)
        assert all(s.created and s.differences == () for s in statuses[1:])
    finally:
        delete_topics(
            kafka_bootstrap,
            [topic_settings.subbands, topic_settings.ms_ready, topic_settings.dead_letter],
        )


@pytest.mark.broker
def test_topics_command_creates_then_describes(
    kafka_bootstrap, topic_settings, monkeypatch, capsys
):
    monkeypatch.setenv("DSA110_TOPICS__SUBBANDS", topic_settings.subbands)
    monkeypatch.setenv("DSA110_TOPICS__MS_READY", topic_settings.ms_ready)
    monkeypatch.setenv("DSA110_TOPICS__DEAD_LETTER", topic_settings.dead_letter)
    flags = [
        "--bootstrap-servers",
        kafka_bootstrap,
        "--partitions",
        "2",
        "--replication-factor",
        "1",
    ]
    try:
        assert main(["topics", "describe", *flags]) == 1
        assert capsys.readouterr().out.count("MISSING") == 3

        assert main(["topics", "create", *flags]) == 0
        out = capsys.readouterr().out
        assert out.count(": created, partitions=2, replication=1") == 3

        assert main(["topics", "create", *flags]) == 0
        assert capsys.readouterr().out.count(": exists, partitions=2") == 3

        assert main(["topics", "describe", *flags]) == 0
        assert "differs" not in capsys.readouterr().out

        assert (
            main(
                ["topics", "describe", *flags[:2], "--partitions", "4", "--replication-factor", "1"]
            )
            == 1
        )
        assert capsys.readouterr().out.count("differs: partitions: want 4, have 2") == 3
    finally:
        delete_topics(
            kafka_bootstrap,
            [topic_settings.subbands, topic_settings.ms_ready, topic_settings.dead_letter],
        )


def test_topics_command_reports_an_unreachable_cluster(capsys):
    status = main(["topics", "describe", "--bootstrap-servers", "127.0.0.1:1", "--timeout", "2"])
    assert status == 1
    assert "cannot describe topics on 127.0.0.1:1" in capsys.readouterr().out
