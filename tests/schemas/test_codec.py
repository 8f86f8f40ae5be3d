"""EventCodec without a Schema Registry: wire format, validation, typed decode errors."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from schemas.catalog import SchemaCatalog
from schemas.codec import (
    BadMagicByte,
    EventCodec,
    InvalidEvent,
    MalformedPayload,
    TruncatedPayload,
    UndecodableEvent,
    UnknownSchemaId,
)
from schemas.golden import SAMPLE_RECORDS
from tests.schemas.hypothetical import catalog_with_next_version, field


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec()


@pytest.mark.parametrize("name", sorted(SAMPLE_RECORDS))
def test_round_trip_returns_the_record_in_the_contract_types(codec, name):
    record = dict(SAMPLE_RECORDS[name])
    event = codec.decode(codec.encode(name, record))
    assert event.schema_name == name
    assert event.writer_version == 1
    assert event.record == record
    assert isinstance(event.record["event_id"], str)
    stamps = [v for v in event.record.values() if isinstance(v, datetime)]
    assert stamps and all(
        s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in stamps
    )


@pytest.mark.parametrize("name", sorted(SAMPLE_RECORDS))
def test_wire_header_is_magic_zero_and_the_registry_json_id(codec, name):
    data = codec.encode(name, SAMPLE_RECORDS[name])
    magic, schema_id = struct.unpack(">bi", data[:5])
    assert magic == 0
    assert schema_id == SchemaCatalog.load().latest(name).local_id == codec.schema_id(name)


def test_fields_with_defaults_may_be_omitted(codec):
    record = {k: v for k, v in SAMPLE_RECORDS["DeadLetter"].items() if v is not None}
    del record["source_topic"]
    decoded = codec.decode(codec.encode("DeadLetter", record)).record
    assert decoded["source_topic"] is None and decoded["group_id"] is None
    header = dict(SAMPLE_RECORDS["SubbandFile"]["header"])
    del header["pointing_dec_rad"]
    event = {**SAMPLE_RECORDS["SubbandFile"], "header": header}
    assert (
        codec.decode(codec.encode("SubbandFile", event)).record["header"]["pointing_dec_rad"]
        is None
    )


def test_timestamps_keep_millisecond_and_mtime_microsecond_precision(codec):
    when = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    record = {**SAMPLE_RECORDS["SubbandFile"], "detected_at": when, "mtime": when}
    decoded = codec.decode(codec.encode("SubbandFile", record)).record
    assert decoded["mtime"] == when
    assert decoded["detected_at"] == when.replace(microsecond=678000)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subband": "7"}, "subband"),
        ({"unexpected": 1}, "unexpected"),
        ({"event_id": "not-a-uuid"}, "UUID"),
        ({"detected_at": datetime(2025, 1, 1, 0, 0)}, "naive datetime"),
    ],
)
def test_invalid_records_are_refused_with_the_field_named(codec, change, message):
    with pytest.raises(InvalidEvent, match=message):
        codec.encode("SubbandFile", {**SAMPLE_RECORDS["SubbandFile"], **change})


def test_missing_required_field_is_refused(codec):
    record = dict(SAMPLE_RECORDS["MeasurementSetReady"])
    del record["n_rows"]
    with pytest.raises(InvalidEvent, match="n_rows"):
        codec.encode("MeasurementSetReady", record)


def test_unknown_enum_symbol_is_refused(codec):
    with pytest.raises(InvalidEvent):
        codec.encode("DeadLetter", {**SAMPLE_RECORDS["DeadLetter"], "reason": "GREMLINS"})


def test_unknown_schema_name_is_a_key_error(codec):
    with pytest.raises(KeyError, match="Subband"):
        codec.encode("Subband", SAMPLE_RECORDS["SubbandFile"])


# ---- undecodable payloads: every one is an UndecodableEvent, with the right subclass ----


def _valid(codec: EventCodec) -> bytes:
    return codec.encode("SubbandFile", SAMPLE_RECORDS["SubbandFile"])


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (lambda valid: b"", TruncatedPayload),
        (lambda valid: None, TruncatedPayload),
        (lambda valid: b"\x00\x00\x01", TruncatedPayload),
        (lambda valid: b'{"group_id": "2025-01-01T00:00:00"}', BadMagicByte),
        (lambda valid: b"\x01" + valid[1:], BadMagicByte),
        (lambda valid: valid[:5] + b"", TruncatedPayload),
        (lambda valid: valid[:-3], TruncatedPayload),
        (lambda valid: valid[:40], TruncatedPayload),
        (lambda valid: b"\x00" + struct.pack(">i", 12345) + valid[5:], UnknownSchemaId),
        (lambda valid: b"\x00" + struct.pack(">i", -1) + valid[5:], UnknownSchemaId),
        (lambda valid: valid + b"\x00\x01", MalformedPayload),
        (lambda valid: valid[:5] + b"\x48\xff\xfe" + valid[8:], MalformedPayload),
    ],
    ids=[
        "empty",
        "none",
        "short-header",
        "json",
        "magic-1",
        "header-only",
        "cut-end",
        "cut-middle",
        "unknown-id",
        "negative-id",
        "trailing-bytes",
        "bad-utf8",
    ],
)
def test_undecodable_payloads_raise_typed_errors(codec, payload, error):
    with pytest.raises(error) as caught:
        codec.decode(payload(_valid(codec)))
    assert isinstance(caught.value, UndecodableEvent)
    assert caught.value.reason and caught.value.code != UndecodableEvent.code


def test_decoding_never_raises_anything_but_undecodable_on_garbage(codec):
    valid = _valid(codec)
    failures = 0
    for cut in range(len(valid)):
        for flip in (0x01, 0x80, 0xFF):
            corrupt = bytearray(valid[: cut + 1])
            corrupt[cut] ^= flip
            try:
                codec.decode(bytes(corrupt) + valid[cut + 1 :])
            except UndecodableEvent:
                failures += 1
    # Most single-byte corruptions are detected; the rest decode to some valid record.
    assert failures > len(valid)


# ---- resolution to the latest version (consumers always see the newest shape) ----


def _add_beam(definition):
    definition["fields"].append(
        {"name": "beam", "type": ["null", "int"], "default": None, "doc": "Beam number."}
    )


def test_old_data_gets_new_fields_defaults(tmp_path):
    new = EventCodec(catalog=catalog_with_next_version(tmp_path, "SubbandFile", _add_beam))
    old_data = EventCodec().encode("SubbandFile", SAMPLE_RECORDS["SubbandFile"])
    event = new.decode(old_data)
    assert event.writer_version == 1
    assert event.record == {**SAMPLE_RECORDS["SubbandFile"], "beam": None}


def test_without_registry_an_old_reader_cannot_decode_a_newer_version(tmp_path):
    """Why a new version is rolled out readers first (README): the old reader lacks its schema."""
    new = EventCodec(catalog=catalog_with_next_version(tmp_path, "SubbandFile", _add_beam))
    new_data = new.encode("SubbandFile", {**SAMPLE_RECORDS["SubbandFile"], "beam": 3})
    assert new.decode(new_data).record["beam"] == 3
    with pytest.raises(UnknownSchemaId):
        EventCodec().decode(new_data)


def test_pinned_writer_writes_the_old_version_for_old_readers(tmp_path):
    new_catalog = catalog_with_next_version(tmp_path, "SubbandFile", _add_beam)
    pinned = EventCodec(catalog=new_catalog, write_versions={"SubbandFile": 1})
    assert pinned.write_version("SubbandFile").version == 1
    data = pinned.encode("SubbandFile", SAMPLE_RECORDS["SubbandFile"])
    assert EventCodec().decode(data).record == SAMPLE_RECORDS["SubbandFile"]
    assert pinned.decode(data).record["beam"] is None
    with pytest.raises(InvalidEvent, match="beam"):
        pinned.encode("SubbandFile", {**SAMPLE_RECORDS["SubbandFile"], "beam": 3})
    with pytest.raises(KeyError, match="no version 7"):
        EventCodec(write_versions={"SubbandFile": 7}).encode(
            "SubbandFile", SAMPLE_RECORDS["SubbandFile"]
        )


def test_new_enum_symbol_round_trips_in_the_new_version(tmp_path):
    def add_symbol(definition):
        field(definition, "reason")["type"]["symbols"].insert(0, "DISK_FULL")

    new = EventCodec(catalog=catalog_with_next_version(tmp_path, "DeadLetter", add_symbol))
    data = new.encode("DeadLetter", {**SAMPLE_RECORDS["DeadLetter"], "reason": "DISK_FULL"})
    assert new.decode(data).record["reason"] == "DISK_FULL"
    old = EventCodec().encode("DeadLetter", SAMPLE_RECORDS["DeadLetter"])
    assert new.decode(old).record == SAMPLE_RECORDS["DeadLetter"]


def test_event_ids_decode_as_canonical_strings(codec):
    event_id = uuid.uuid4()
    record = {**SAMPLE_RECORDS["DeadLetter"], "event_id": str(event_id).upper()}
    assert codec.decode(codec.encode("DeadLetter", record)).record["event_id"] == str(event_id)
