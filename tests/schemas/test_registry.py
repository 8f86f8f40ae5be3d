"""EventCodec with a Schema Registry (confluent-kafka's in-memory mock client)."""

from __future__ import annotations

import socket
import struct

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from schemas.catalog import SchemaCatalog
from schemas.codec import (
    EventCodec,
    IncompatibleSchema,
    SchemaRegistryUnavailable,
    UnknownSchemaId,
)
from schemas.golden import SAMPLE_RECORDS
from tests.schemas.hypothetical import catalog_with_next_version


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": "mock://schemas-test"})


def _id(data: bytes) -> int:
    return int(struct.unpack(">i", data[1:5])[0])


@pytest.mark.parametrize("name", sorted(SAMPLE_RECORDS))
def test_registry_ids_are_used_on_the_wire_and_resolved_by_another_codec(registry, name):
    writer = EventCodec(registry_client=registry)
    data = writer.encode(name, SAMPLE_RECORDS[name])
    fullname = SchemaCatalog.load().latest(name).fullname
    registered = registry.get_latest_version(fullname)  # subject = record full name
    assert _id(data) == registered.schema_id
    assert _id(data) != SchemaCatalog.load().latest(name).local_id
    event = EventCodec(registry_client=registry).decode(data)
    assert event.schema_name == name and event.writer_version == 1
    assert event.record == SAMPLE_RECORDS[name]


def test_registering_is_idempotent(registry):
    first = EventCodec(registry_client=registry).schema_id("DeadLetter")
    again = EventCodec(registry_client=registry).schema_id("DeadLetter")
    assert first == again
    assert registry.get_versions("org.dsa110.stream.DeadLetter") == [1]


def test_registry_url_builds_the_client():
    codec = EventCodec("mock://by-url")
    assert codec.uses_registry
    data = codec.encode("SubbandFile", SAMPLE_RECORDS["SubbandFile"])
    assert codec.decode(data).record == SAMPLE_RECORDS["SubbandFile"]


def test_registry_codec_still_decodes_local_ids(registry):
    local = EventCodec().encode("SubbandFile", SAMPLE_RECORDS["SubbandFile"])
    assert (
        EventCodec(registry_client=registry).decode(local).record == SAMPLE_RECORDS["SubbandFile"]
    )


def test_unknown_id_in_registry_and_catalog(registry):
    data = EventCodec(registry_client=registry).encode("DeadLetter", SAMPLE_RECORDS["DeadLetter"])
    forged = data[:1] + struct.pack(">i", 4242) + data[5:]
    with pytest.raises(UnknownSchemaId, match="4242"):
        EventCodec(registry_client=registry).decode(forged)


def test_registry_schema_that_is_not_an_event_is_unknown(registry):
    from confluent_kafka.schema_registry import Schema

    other = '{"type": "record", "name": "Other", "namespace": "x", "fields": []}'
    schema_id = registry.register_schema("x.Other", Schema(other, "AVRO"))
    with pytest.raises(UnknownSchemaId, match=r"x\.Other"):
        EventCodec(registry_client=registry).decode(b"\x00" + struct.pack(">i", schema_id))


def test_old_reader_decodes_a_newer_writer_through_the_registry(registry, tmp_path):
    """Full compatibility in practice: the registry hands the old reader the v2 writer schema."""

    def add_beam(definition):
        definition["fields"].append(
            {"name": "beam", "type": ["null", "int"], "default": None, "doc": "Beam."}
        )

    new_catalog = catalog_with_next_version(tmp_path, "SubbandFile", add_beam)
    new = EventCodec(registry_client=registry, catalog=new_catalog)
    data = new.encode("SubbandFile", {**SAMPLE_RECORDS["SubbandFile"], "beam": 5})
    old_event = EventCodec(registry_client=registry).decode(data)
    assert old_event.record == SAMPLE_RECORDS["SubbandFile"]
    assert new.decode(data).record["beam"] == 5
    assert new.decode(data).writer_version == 2


def test_incompatible_registered_writer_raises_a_typed_error(registry, tmp_path):
    def retype(definition):
        next(f for f in definition["fields"] if f["name"] == "subband")["type"] = "string"

    breaking = EventCodec(
        registry_client=registry, catalog=catalog_with_next_version(tmp_path, "SubbandFile", retype)
    )
    data = breaking.encode("SubbandFile", {**SAMPLE_RECORDS["SubbandFile"], "subband": "7"})
    with pytest.raises(IncompatibleSchema, match=r"subband|string"):
        EventCodec(registry_client=registry).decode(data)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_registry_is_transient_not_undecodable():
    url = f"http://127.0.0.1:{_closed_port()}"
    codec = EventCodec(url, registry_config={"max.retries": 0})
    with pytest.raises(SchemaRegistryUnavailable):
        codec.encode("SubbandFile", SAMPLE_RECORDS["SubbandFile"])
    with pytest.raises(SchemaRegistryUnavailable):
        codec.decode(b"\x00\x00\x00\x00\x07" + b"\x00" * 10)
