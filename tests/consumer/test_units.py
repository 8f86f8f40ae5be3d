"""Pure pieces of the consumer: settings, paths, crash plans, output events, the record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from consumer.crashpoints import CrashPlan, CrashPoints
from consumer.finished import apply_output_event
from consumer.inputs import InputPathError, resolve_input
from consumer.outputs import (
    SUBBANDS_HEADER,
    Reason,
    SourceMessage,
    group_dead_letter,
    message_dead_letter,
)
from consumer.settings import ConsumerSettings
from consumer.state import FinishedRecord, FinishKind
from schemas.codec import EventCodec

GROUP_TIME = datetime(2025, 10, 2, 10, 2, 45, tzinfo=UTC)
SOURCE = SourceMessage("subbands", 2, 17, b"2025-10-02T10:02:45", 1759399365000)


def test_settings_defaults_and_validation(tmp_path):
    settings = ConsumerSettings.model_validate(
        {"data_root": tmp_path, "output_dir": tmp_path / "ms", "instance_id": "pod-0"}
    )
    assert settings.transactional_id == "dsa110-consumer-pod-0"
    assert settings.exactly_once
    assert 618 + 10 < settings.observation_horizon_s < 928 - 10
    with pytest.raises(ValidationError, match="min_subbands"):
        ConsumerSettings.model_validate({"min_subbands": 15, "expected_subbands": 12})


def test_force_until_bounds_which_groups_a_forced_run_reconverts(monkeypatch):
    unbounded = ConsumerSettings.model_validate({"force": True})
    assert unbounded.forces("2025-10-02T10:02:45") and unbounded.forces("2030-01-01T00:00:00")
    assert not ConsumerSettings.model_validate({}).forces("2025-10-02T10:02:45")

    # A time without an offset is UTC (a naive timestamp shifted ids by the host's zone once).
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    bounded = ConsumerSettings.model_validate(
        {"force": True, "force_until": "2025-10-02T12:00:00"}
    )
    assert bounded.force_until == datetime(2025, 10, 2, 12, tzinfo=UTC)
    assert bounded.forces("2025-10-02T11:57:02")
    assert bounded.forces("2025-10-02T12:00:00")
    assert not bounded.forces("2025-10-02T12:02:11")
    offset = ConsumerSettings.model_validate(
        {"force": True, "force_until": "2025-10-02T05:00:00-07:00"}
    )
    assert offset.force_until == datetime(2025, 10, 2, 12, tzinfo=UTC)

    with pytest.raises(ValidationError, match="force_until bounds a forced run"):
        ConsumerSettings.model_validate({"force_until": "2025-10-02T12:00:00"})


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("DSA110_MIN_SUBBANDS", "14")
    monkeypatch.setenv("DSA110_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    settings = ConsumerSettings.model_validate({})
    assert settings.min_subbands == 14
    assert settings.kafka.bootstrap_servers == "broker:9092"


def test_resolve_input_inside_the_root(tmp_path):
    (tmp_path / "incoming").mkdir()
    target = tmp_path / "incoming" / "a_sb00.hdf5"
    target.write_bytes(b"x")
    assert resolve_input(tmp_path, "incoming/a_sb00.hdf5") == target.resolve()


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("../outside_sb00.hdf5", "OUTSIDE_DATA_ROOT"),
        ("/etc/passwd", "OUTSIDE_DATA_ROOT"),
        ("", "OUTSIDE_DATA_ROOT"),
        ("link/outside_sb00.hdf5", "OUTSIDE_DATA_ROOT"),
        ("incoming/missing_sb00.hdf5", "MISSING_FILE"),
        ("incoming", "MISSING_FILE"),
    ],
)
def test_resolve_input_refuses_escapes_and_missing_files(tmp_path, relative, reason):
    root = tmp_path / "root"
    (root / "incoming").mkdir(parents=True)
    (tmp_path / "outside_sb00.hdf5").write_bytes(b"x")
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(InputPathError) as caught:
        resolve_input(root, relative)
    assert caught.value.reason == reason


def test_crash_plan_parsing_and_counting():
    assert CrashPlan.parse("after_rename:3") == CrashPlan("after_rename", 3, 0.0)
    assert CrashPlan.parse("mid_convert:2:0.5") == CrashPlan("mid_convert", 2, 0.5)
    with pytest.raises(ValueError, match="unknown crash point"):
        CrashPlan.parse("nowhere")
    points = CrashPoints(CrashPlan("mid_convert", 2, 0.5))
    assert points.planned_delay("mid_convert") is None
    assert points.planned_delay("mid_convert") == 0.5
    assert points.planned_delay("mid_convert") is None
    points.reached("after_poll")  # another point: nothing happens
    assert CrashPoints.from_environment({}).plan is None


def roundtrip(event):
    codec = EventCodec()
    decoded = codec.decode(codec.encode(event.schema_name, event.record))
    return decoded.schema_name, decoded.record


def test_group_dead_letter_is_a_valid_event_that_the_record_reads_back():
    event = group_dead_letter(
        "dead",
        "2025-10-02T10:02:45",
        GROUP_TIME,
        Reason.INCOMPLETE_GROUP,
        "2 of 16",
        source=SOURCE,
        subbands=[9, 3],
        attempts=1,
    )
    assert event.key == b"2025-10-02T10:02:45"
    assert event.timestamp_ms == int(GROUP_TIME.timestamp() * 1000)
    assert (SUBBANDS_HEADER, b"3,9") in event.headers
    record = FinishedRecord()
    name, fields = roundtrip(event)
    apply_output_event(record, name, fields, event.headers, "subbands")
    finished = record.group("2025-10-02T10:02:45")
    assert finished is not None
    assert finished.kind is FinishKind.DEAD_LETTER
    assert finished.subbands == frozenset({3, 9})


def test_message_dead_letter_keeps_the_original_and_marks_the_offset():
    event = message_dead_letter(
        "dead", Reason.UNDECODABLE, "bad magic", source=SOURCE, original=b"\xff junk"
    )
    name, fields = roundtrip(event)
    assert fields["original"] == b"\xff junk"
    assert (fields["source_partition"], fields["source_offset"]) == (2, 17)
    record = FinishedRecord()
    apply_output_event(record, name, fields, event.headers, "subbands")
    assert record.is_rejected("subbands", 2, 17)
    assert record.n_groups == 0
    other = FinishedRecord()
    apply_output_event(other, name, fields, event.headers, "another-topic")
    assert not other.is_rejected("subbands", 2, 17)


def test_reasons_are_checked():
    with pytest.raises(ValueError):
        message_dead_letter("d", Reason.INCOMPLETE_GROUP, "x", source=SOURCE, original=None)
    with pytest.raises(ValueError):
        group_dead_letter(
            "d", "g", GROUP_TIME, Reason.LATE_SUBBAND, "x", source=SOURCE, subbands=[], attempts=1
        )


def test_ms_ready_events_of_the_record():
    record = FinishedRecord()
    fields = {"group_id": "g", "subbands_present": [0, 1, 2], "revision": 2}
    apply_output_event(record, "MeasurementSetReady", fields, None, "subbands")
    finished = record.group("g")
    assert finished is not None and finished.revision == 2
    assert finished.kind is FinishKind.MS_READY


def test_producer_dead_letters_are_not_part_of_the_record():
    fields = {"reason": "CORRUPT_FILE", "source_topic": None, "group_id": "g"}
    record = FinishedRecord()
    apply_output_event(record, "DeadLetter", fields, None, "subbands")
    assert record.n_groups == 0 and record.n_rejections == 0
